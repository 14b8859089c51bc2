"""Procedurally drawn grayscale faces in the FER classes: a deterministic, dependency-free stand-in dataset.

Every face is rendered in torch from a handful of continuous expression features (mouth curvature and
openness, brow angle and height, eye openness, nose wrinkle, mouth asymmetry). Each class fixes a centre
in that feature space and every sample is jittered around it, so neighbouring classes overlap a little;
pose, lighting, hair, background and pixel noise vary independently of the class so that no single pixel
gives the label away.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fer_lightning.data.arrays import Split

# Column order of the expression feature table below.
FEATURES: tuple[str, ...] = (
    "mouth_curve",  # + corners up (smile), - corners down (frown)
    "mouth_open",  # 0 closed line, 1 wide-open oval
    "mouth_width",  # + stretched, - pursed
    "brow_angle",  # + inner ends raised (sad/fear), - inner ends lowered (angry)
    "brow_height",  # + raised, - lowered
    "eye_open",  # + wide, - narrowed
    "nose_wrinkle",  # 0 none, 1 strong wrinkles on the bridge
    "mouth_asym",  # + one-sided raise of the right mouth corner (smirk)
)

# Class centres in feature space, canonical order (angry, disgust, fear, happy, sad, surprise, neutral, contempt).
CLASS_FEATURES = torch.tensor(
    [
        # curve  open  width  b_ang  b_h   eye   wrink  asym
        [-0.45, 0.05, -0.20, -1.00, -0.70, -0.55, 0.30, 0.00],  # angry
        [-0.50, 0.30, 0.00, -0.35, -0.45, -0.75, 1.00, 0.40],  # disgust
        [-0.35, 0.55, 0.60, 0.85, 0.70, 0.90, 0.00, 0.00],  # fear
        [1.00, 0.25, 0.65, 0.00, 0.10, -0.30, 0.00, 0.00],  # happy
        [-0.95, 0.00, -0.10, 0.95, 0.05, -0.30, 0.00, 0.00],  # sad
        [0.00, 1.00, -0.40, 0.20, 1.00, 1.00, 0.00, 0.00],  # surprise
        [0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00],  # neutral
        [0.05, 0.00, 0.00, 0.00, 0.00, -0.15, 0.00, 1.00],  # contempt
    ],
    dtype=torch.float32,
)

# Per-feature std of the per-sample jitter, in the same units as the class table; sized so that classes
# touch at their tails without collapsing into each other.
FEATURE_JITTER = torch.tensor([0.18, 0.12, 0.18, 0.2, 0.2, 0.2, 0.16, 0.18], dtype=torch.float32)

# Faces are drawn in passes of this many to bound peak memory (~100 MB at 48 px); it is a constant because the
# noise stream is consumed pass by pass, so changing it would change the pixels a seed gives.
_CHUNK = 1024


def _window(
    size: int, x_lo: float, x_hi: float, y_lo: float, y_hi: float
) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    """Pixel-centre coordinates of a sub-window of the canonical face canvas, as x [1,1,w] and y [1,h,1]."""

    def span(lo: float, hi: float) -> tuple[int, int]:
        a = max(0, math.floor((lo + 1.0) / 2.0 * size))
        b = min(size, math.ceil((hi + 1.0) / 2.0 * size))
        return a, max(a + 1, b)

    c0, c1 = span(x_lo, x_hi)
    r0, r1 = span(y_lo, y_hi)
    lin = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2.0 - 1.0
    return lin[c0:c1].view(1, 1, -1), lin[r0:r1].view(1, -1, 1), (slice(None), slice(r0, r1), slice(c0, c1))


def _soft(sd: torch.Tensor, sharp: float) -> torch.Tensor:
    """Coverage in [0, 1] of a shape from its signed distance (negative inside), anti-aliased over ~1 pixel."""
    return torch.sigmoid(sd * -sharp)


def _ellipse_sd(
    dx: torch.Tensor, dy: torch.Tensor, rx: torch.Tensor | float, ry: torch.Tensor | float
) -> torch.Tensor:
    """Approximate signed distance to an axis-aligned ellipse from offsets to its centre (exact on a circle)."""
    # Scaling by the smaller radius keeps the edge close to one pixel wide for moderate eccentricities.
    m = torch.minimum(torch.as_tensor(rx), torch.as_tensor(ry))
    return (torch.hypot(dx / rx, dy / ry) - 1.0) * m


def _segment_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    ax: torch.Tensor | float,
    ay: torch.Tensor | float,
    bx: torch.Tensor | float,
    by: torch.Tensor | float,
) -> torch.Tensor:
    """Euclidean distance from points (x, y) to segments a-b given as floats or [N,1,1] tensors."""
    ax, ay, bx, by = (torch.as_tensor(c, dtype=torch.float32) for c in (ax, ay, bx, by))
    dx, dy = bx - ax, by - ay
    inv_len2 = 1.0 / (dx * dx + dy * dy).clamp_min(1e-8)
    px, py = x - ax, y - ay  # broadcast [N,1,w] and [N,h,1]: cheap until they meet
    t = (px * (dx * inv_len2) + py * (dy * inv_len2)).clamp_(0.0, 1.0)
    return torch.hypot(px - t * dx, py - t * dy)


def _sample_params(labels: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Draw every per-sample random quantity (expression, pose, lighting, identity) as [N] or [N, k] tensors."""
    n = labels.shape[0]

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, *shape, generator=gen)

    feats = CLASS_FEATURES[labels] + FEATURE_JITTER * torch.randn(n, len(FEATURES), generator=gen)
    return {
        # Clamped so every feature stays inside the fixed canvas windows it is drawn in.
        "feats": feats.clamp(-1.8, 1.8),
        "angle": (torch.randn(n, generator=gen) * math.radians(4.0)).clamp(-0.25, 0.25),
        "scale": uniform(0.95, 1.09),
        "shift": (torch.randn(n, 2, generator=gen) * 0.03).clamp(-0.15, 0.15),
        "face_aspect": uniform(0.92, 1.06),
        "skin": uniform(0.55, 0.85),
        "background": uniform(0.05, 0.55),
        "blob_amp": uniform(0.0, 0.18),
        "blobs": torch.randn(n, 1, 6, 6, generator=gen),
        "hair_dark": uniform(0.0, 0.9),
        "hairline": uniform(-0.74, -0.58),
        "feature_dark": uniform(0.7, 0.95),
        "eye_dy": (torch.randn(n, generator=gen) * 0.025).clamp(-0.07, 0.07),
        "eye_dx": (torch.randn(n, generator=gen) * 0.02).clamp(-0.06, 0.06),
        "gaze": (torch.randn(n, 2, generator=gen) * 0.02).clamp(-0.05, 0.05),
        "mouth_dy": (torch.randn(n, generator=gen) * 0.03).clamp(-0.08, 0.08),
        "contrast": uniform(0.7, 1.2),
        "brightness": torch.randn(n, generator=gen) * 0.07,
        "grad_amp": uniform(0.0, 0.3),
        "grad_dir": uniform(0.0, 2.0 * math.pi),
        "noise_std": uniform(0.01, 0.045),
        "tint": 1.0 + 0.05 * torch.randn(n, 3, generator=gen),
    }


def _draw_face(p: dict[str, torch.Tensor], size: int) -> torch.Tensor:
    """Draw upright, centred faces on the canonical canvas as premultiplied (intensity, alpha) [N, 2, S, S]."""
    n = p["feats"].shape[0]
    sharp = size / (2.0 * 0.55)  # sigmoid steepness giving a ~1 pixel anti-aliased edge in canvas units

    def col(t: torch.Tensor) -> torch.Tensor:
        return t.view(n, 1, 1)

    curve, open_, width, b_ang, b_h, eye_open, wrinkle, asym = (col(f) for f in p["feats"].unbind(1))
    open_ = open_.clamp(0.0, 1.3)
    wrinkle = wrinkle.clamp(0.0, 1.3)

    # Head: face ellipse with radial shading, hair cap over the top; all on the full canvas.
    x, y, _ = _window(size, -1.0, 1.0, -1.0, 1.0)
    fx, fy = 0.78 * col(p["face_aspect"]), 0.95
    nx, ny = x / fx, (y - 0.02) / fy
    r = torch.hypot(nx, ny)
    face = _soft((r - 1.0) * fx, sharp)
    hair_band = _soft(y - col(p["hairline"]) - 0.1 * x * x, sharp / 3.0)
    hair = _soft((r - 1.05) * fx, sharp) * hair_band
    alpha = torch.maximum(face, hair)
    shade = 1.0 - 0.22 * (r * r).clamp_(max=1.0)
    tone = col(p["skin"]) * shade * (1.0 - col(p["hair_dark"]) * hair)

    ink = torch.zeros(n, size, size)  # darkening by facial features, combined with max

    def stamp(win: tuple, layer: torch.Tensor) -> None:
        ink[win] = torch.maximum(ink[win], layer)

    # Eyes and brows, one half-window per side so each side's shapes are only evaluated near themselves.
    eye_y = -0.12 + col(p["eye_dy"])
    eye_hh = (0.064 * (1.0 + 0.6 * eye_open)).clamp(min=0.014)
    # Wide eyes show a pale sclera around the iris; narrowed ones read as a dark slit.
    white = (0.35 - 0.25 * eye_open).clamp(0.05, 0.5)
    brow_y = -0.31 - 0.10 * b_h - 0.035 * eye_open.clamp(min=0.0)
    for side in (-1.0, 1.0):
        lo, hi = (-0.7, 0.02) if side < 0 else (-0.02, 0.7)
        x, y, win = _window(size, lo, hi, -0.8, 0.12)
        ex = side * (0.28 + col(p["eye_dx"]))
        dx, dy = x - ex, y - eye_y
        eye = _soft(_ellipse_sd(dx, dy, 0.145, eye_hh), sharp)
        iris = _soft(torch.hypot(dx - col(p["gaze"][:, 0]), dy - col(p["gaze"][:, 1])) - 0.058, sharp)
        layer = eye * (white + (1.0 - white) * iris)

        # Brow: a thick segment whose inner end moves with brow_angle and whole height with brow_height.
        inner_y = brow_y - 0.11 * b_ang
        outer_y = brow_y + 0.03 * b_ang
        brow = _soft(_segment_distance(x, y, side * 0.10, inner_y, side * 0.46, outer_y) - 0.045, sharp)
        stamp(win, torch.maximum(layer, 0.9 * brow))

    # Nose: faint ridge, nostrils, and for disgust short horizontal wrinkles across the bridge.
    x, y, win = _window(size, -0.17, 0.17, -0.16, 0.32)
    layer = 0.2 * _soft(_segment_distance(x, y, 0.04, -0.02, 0.05, 0.2) - 0.012, sharp)
    for side in (-1.0, 1.0):
        layer = torch.maximum(
            layer, 0.55 * _soft(_ellipse_sd(x - side * 0.075, y - 0.25, 0.035, 0.022), sharp)
        )
    wr = torch.zeros(())
    for wy in (-0.08, 0.0, 0.08):
        wr = torch.maximum(wr, _soft(_segment_distance(x, y, -0.09, wy, 0.09, wy + 0.012) - 0.015, sharp))
    stamp(win, torch.maximum(layer, (0.75 * wrinkle).clamp(max=0.85) * wr))

    # Mouth: band between an upper and a lower lip curve; both share the corner height, the lower lip drops
    # with mouth_open, and the corners rise or fall with curvature (plus a one-sided term for a smirk).
    x, y, win = _window(size, -0.55, 0.55, 0.04, 0.94)
    mouth_y = 0.52 + col(p["mouth_dy"])
    mw = 0.28 * (1.0 + 0.3 * width).clamp(0.5, 1.5)
    xm = x / mw
    t = (xm * xm).clamp_(max=1.0)
    # A smirk lifts only the right corner, so it adds a one-sided term instead of changing the curvature.
    smirk = asym * (xm.clamp(min=0.0) ** 2).clamp_(max=1.0)
    corner = mouth_y + 0.06 * curve - 0.18 * curve * t - 0.18 * smirk
    gap = 0.19 * open_ * torch.sqrt(1.0 - t)
    lip = 0.022
    mouth_sd = torch.maximum(
        torch.maximum(x.abs() - mw, corner - 0.3 * gap - lip - y), y - corner - 0.7 * gap - lip
    )
    layer = (0.6 + 0.35 * open_.clamp(max=1.0)) * _soft(mouth_sd, sharp)
    # Smile lines beside the mouth corners deepen with curvature, a cue that survives a closed mouth.
    # The smirk side gets its own crease, which is what tells contempt from a faint symmetric smile.
    for side in (-1.0, 1.0):
        lift = curve + asym if side > 0 else curve
        fold = _segment_distance(x, y, side * 0.2, 0.26, side * (mw + 0.05), mouth_y - 0.06 * lift)
        layer = torch.maximum(layer, (0.35 * lift).clamp(0.0, 0.4) * _soft(fold - 0.012, sharp))
    stamp(win, layer)

    tone = tone * (1.0 - col(p["feature_dark"]) * ink * face)
    return torch.stack([tone * alpha, alpha], dim=1)


def _render_chunk(p: dict[str, torch.Tensor], size: int, gen: torch.Generator) -> torch.Tensor:
    """Render one chunk of faces as float intensities [N, H, W] in [0, 1]."""
    n = p["feats"].shape[0]

    def col(t: torch.Tensor) -> torch.Tensor:
        return t.view(n, 1, 1)

    # Pose: warp the canonical face into the frame with one affine resample (rotation, scale, shift).
    # The sampling grid is built by broadcasting rather than affine_grid, whose batched matmul is slower here.
    x, y, _ = _window(size, -1.0, 1.0, -1.0, 1.0)
    cos, sin, s = col(torch.cos(p["angle"])), col(torch.sin(p["angle"])), col(p["scale"])
    du, dv = x - col(p["shift"][:, 0]), y - col(p["shift"][:, 1])
    grid = torch.stack([(cos * du + sin * dv) / s, (cos * dv - sin * du) / s], dim=-1)
    layer = F.grid_sample(
        _draw_face(p, size), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    tone, alpha = layer[:, 0], layer[:, 1]

    # Background: flat level plus low-frequency blobs, so the face edge is not a fixed contrast step.
    blobs = F.interpolate(p["blobs"], size=(size, size), mode="bilinear", align_corners=False).squeeze(1)
    img = (col(p["background"]) + col(p["blob_amp"]) * blobs) * (1.0 - alpha) + tone

    # Lighting: contrast and brightness, a linear gradient across the frame, then sensor noise.
    grad = col(torch.cos(p["grad_dir"])) * x + col(torch.sin(p["grad_dir"])) * y
    img = (img - 0.5) * col(p["contrast"]) + (0.5 + col(p["brightness"]) + col(p["grad_amp"]) * 0.5 * grad)
    img = img + col(p["noise_std"]) * torch.randn(n, size, size, generator=gen)
    return img.clamp_(0.0, 1.0)


def render_faces(labels: torch.Tensor, *, seed: int, image_size: int = 48, channels: int = 1) -> torch.Tensor:
    """Render one synthetic face per canonical label as uint8 [N, C, H, W]; the same seed gives the same pixels."""
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.dtype not in (
        torch.int64,
        torch.int32,
        torch.int16,
        torch.uint8,
        torch.int8,
    ):
        raise ValueError(f"labels must be a 1-D integer tensor, got {labels.dtype} {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= CLASS_FEATURES.shape[0]):
        raise ValueError(
            f"labels must lie in [0, {CLASS_FEATURES.shape[0] - 1}], got [{int(labels.min())}, {int(labels.max())}]"
        )
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if image_size < 8:
        raise ValueError(f"image_size must be at least 8, got {image_size}")

    labels = labels.long().cpu()
    gen = torch.Generator().manual_seed(int(seed) % 2**63)
    params = _sample_params(labels, gen)
    out = torch.empty(labels.shape[0], channels, image_size, image_size, dtype=torch.uint8)
    with torch.no_grad():
        for start in range(0, labels.shape[0], _CHUNK):
            stop = min(start + _CHUNK, labels.shape[0])
            chunk = {k: v[start:stop] for k, v in params.items()}
            gray = _render_chunk(chunk, image_size, gen).unsqueeze(1)
            if channels == 3:
                gray = (gray * chunk["tint"].view(-1, 3, 1, 1)).clamp(0.0, 1.0)
            out[start:stop] = (gray * 255.0).round().to(torch.uint8)
    return out


def make_synthetic_split(
    n: int, *, seed: int, image_size: int = 48, channels: int = 1, num_classes: int = 7
) -> Split:
    """Draw `n` labels balanced to within one per class, shuffle them with `seed`, and render their faces."""
    if num_classes not in (7, 8):
        raise ValueError(f"num_classes must be 7 (FER2013 classes) or 8 (plus contempt), got {num_classes}")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    # A separate stream for the labels keeps them independent of the rendering noise drawn from `seed`.
    gen = torch.Generator().manual_seed((int(seed) * 7919 + 17) % 2**63)
    base = torch.arange(n, dtype=torch.int64) % num_classes
    labels = base[torch.randperm(n, generator=gen)]
    images = render_faces(labels, seed=seed, image_size=image_size, channels=channels)
    return Split(images, labels)
