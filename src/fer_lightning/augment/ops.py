"""Batch augmentation ops that draw their random parameters per sample and run vectorised on the batch's device.

Every op is an ``nn.Module`` whose ``forward(x, generator=None)`` takes float images ``[B, C, H, W]``
in ``[0, 1]`` and returns a tensor of the same shape and dtype, except :class:`RandomCrop`, which
returns smaller images (training at a lower resolution than validation and test). Random parameters come from
``generator`` (a ``torch.Generator`` on ``x``'s device) or from the global RNG when it is ``None``.

Geometric ops (:class:`GeometricOp` subclasses) describe themselves as one 3x3 forward matrix per
sample in normalised coordinates (``align_corners=False``: -1 and +1 are the outer pixel edges), so
:class:`~fer_lightning.augment.pipeline.Augment` can multiply consecutive ones together and resample
the image once instead of once per op.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fer_lightning.config_checks import check_positive_int
from fer_lightning.errors import ConfigError

PADDING_MODES = ("zeros", "border", "reflect")
INTERPOLATIONS = ("bilinear", "nearest")

__all__ = [
    "INTERPOLATIONS",
    "PADDING_MODES",
    "Brightness",
    "Contrast",
    "GaussianBlur",
    "GeometricOp",
    "HorizontalFlip",
    "RandomAffine",
    "RandomCrop",
    "RandomErasing",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomWarp",
    "RandomZoom",
    "ReflectPadCrop",
    "center_crop",
    "compose",
    "invert",
    "warp",
]


# ----------------------------------------------------------------------------------------------
# parameter parsing (Hydra hands sequences over as ListConfig, so accept any sequence)


def _range(
    value: float | Sequence[float], name: str, *, symmetric: bool, minimum: float | None = None
) -> tuple[float, float]:
    """A scalar v means (-v, v) when ``symmetric`` else (v, v); a 2-sequence is (lo, hi)."""
    if isinstance(value, (int, float)):
        v = float(value)
        if symmetric and v < 0:
            raise ConfigError(f"{name} must be >= 0 when given as one number, got {v}")
        lo, hi = (-v, v) if symmetric else (v, v)
    else:
        vals = [float(v) for v in value]
        if len(vals) != 2:
            raise ConfigError(f"{name} must be a number or a [low, high] pair, got {list(vals)}")
        lo, hi = vals
    if lo > hi:
        raise ConfigError(f"{name} must have low <= high, got [{lo}, {hi}]")
    if minimum is not None and lo < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got [{lo}, {hi}]")
    return lo, hi


def _check_p(p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"p must lie in [0, 1], got {p}")
    return p


def _uniform(
    lo: float, hi: float, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device
) -> Tensor:
    return torch.rand(shape, generator=generator, device=device) * (hi - lo) + lo


def _applied(p: float, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor | None:
    """Per-sample bool mask of where an op fires; None means every sample (no draw, saves a kernel)."""
    if p >= 1.0:
        return None
    return torch.rand(n, generator=generator, device=device) < p


def _eye(n: int, device: torch.device) -> Tensor:
    return torch.eye(3, device=device).expand(n, 3, 3)


def _matrix(a: Tensor, b: Tensor, tx: Tensor, c: Tensor, d: Tensor, ty: Tensor) -> Tensor:
    """Stack per-sample affine entries into [B, 3, 3] matrices."""
    zero = torch.zeros_like(a)
    one = torch.ones_like(a)
    return torch.stack([a, b, tx, c, d, ty, zero, zero, one], dim=-1).view(-1, 3, 3)


# The 3x3 algebra below is written out elementwise: on tiny [B, 3, 3] batches, LAPACK and bmm
# cost far more in dispatch and threading than the arithmetic (torch.linalg.inv took ~8 ms for
# B=256 on a busy 2-core CPU, this 0.04 ms), and torch.linalg.inv/solve sync with the host on CUDA.


def compose(later: Tensor, earlier: Tensor) -> Tensor:
    """Batched product ``later @ earlier`` of [B, 3, 3] maps: apply ``earlier`` first."""
    return (later.unsqueeze(-1) * earlier.unsqueeze(1)).sum(dim=2)


def invert(m: Tensor) -> Tensor:
    """Batched inverse of [B, 3, 3] matrices by the adjugate (columns are cross products of rows)."""
    r0, r1, r2 = m[:, 0], m[:, 1], m[:, 2]
    adj = torch.stack(
        [torch.linalg.cross(r1, r2), torch.linalg.cross(r2, r0), torch.linalg.cross(r0, r1)], dim=2
    )
    det = (r0 * adj[:, :, 0]).sum(dim=1)
    return adj / det.view(-1, 1, 1)


# ----------------------------------------------------------------------------------------------
# the shared resampler


def _fold_reflect_(coord: Tensor, size: int) -> Tensor:
    """Mirror one normalised coordinate plane about the outer pixel centres, in place.

    grid_sample's own "reflection" mirrors about the pixel edges (numpy "symmetric"); mirroring
    about the centres gives the "reflect" of ``F.pad`` and torchvision's reflect padding. One fold
    per side covers points up to one image size outside; beyond that the edge pixel repeats.
    """
    c = 1.0 - 1.0 / size  # outer pixel centres sit at -c and +c
    # c - |c - g| mirrors about +c, then |t + c| - c mirrors about -c; fused as ||g - c| - 2c| - c.
    return coord.sub_(c).abs_().sub_(2 * c).abs_().sub_(c)


def _sampling_grid(
    inverse: Tensor, h: int, w: int, reflect: bool, projective: bool, axis_aligned: bool
) -> Tensor:
    """Where each output pixel centre samples the input, [B, H, W, 2] in normalised coordinates.

    Each coordinate is ``m0 * x + (m1 * y + m2)``: the two terms live on [B, 1, W] and [B, H, 1]
    and only their broadcast sum is full size, far cheaper than a [H*W, 3] x [3, 3] batched matmul.
    X and Y stay separate contiguous planes until the end because elementwise ops over a
    trailing dimension of 2 do not vectorise.
    """
    n = inverse.shape[0]
    dev = inverse.device
    xs = (torch.arange(w, device=dev, dtype=torch.float32) * 2 + 1) / w - 1
    ys = (torch.arange(h, device=dev, dtype=torch.float32) * 2 + 1) / h - 1
    col = [(inverse[:, r, 0:1] * xs).unsqueeze(1) for r in range(3)]  # [B, 1, W]
    row = [(inverse[:, r, 1:2] * ys + inverse[:, r, 2:3]).unsqueeze(2) for r in range(3)]  # [B, H, 1]
    grid = torch.empty((n, h, w, 2), device=dev, dtype=torch.float32)
    if axis_aligned:
        # X depends on the column only and Y on the row only: fold the small vectors, then expand.
        gx, gy = col[0] + inverse[:, 0, 2].view(-1, 1, 1), row[1]
    else:
        gx, gy = col[0] + row[0], col[1] + row[1]
        if projective:
            # A sane warp keeps every pixel in front of the camera (z > 0); the floor only guards degenerate draws.
            z = (col[2] + row[2]).clamp_(min=1e-6)
            gx.div_(z)
            gy.div_(z)
    if reflect:
        _fold_reflect_(gx, w)
        _fold_reflect_(gy, h)
    # Copying each plane into the interleaved grid is several times cheaper than torch.stack(dim=-1).
    grid[..., 0].copy_(gx.expand(n, h, w))
    grid[..., 1].copy_(gy.expand(n, h, w))
    return grid


def warp(
    x: Tensor,
    forward: Tensor,
    padding_mode: str = "zeros",
    interpolation: str = "bilinear",
    projective: bool = True,
    axis_aligned: bool = False,
) -> Tensor:
    """Resample each image of ``x`` through its own 3x3 forward map in normalised coordinates.

    ``projective=False`` promises every bottom row is (0, 0, 1) and skips the perspective divide;
    ``axis_aligned=True`` promises no rotation or shear either (only per-axis scale and shift).
    """
    _, _, h, w = x.shape
    inverse = invert(forward.to(device=x.device, dtype=torch.float32))
    reflect = padding_mode == "reflect"
    grid = _sampling_grid(inverse, h, w, reflect, projective and not axis_aligned, axis_aligned)
    mode = "border" if reflect else padding_mode
    return F.grid_sample(x, grid.to(x.dtype), mode=interpolation, padding_mode=mode, align_corners=False)


class GeometricOp(nn.Module):
    """Base of ops that move pixels: a subclass draws per-sample forward matrices, the base resamples.

    Args:
        p: probability that a sample is transformed (the others get the identity matrix).
        padding_mode: what fills pixels that come from outside the image: "zeros" (black),
            "border" (edge pixel repeated) or "reflect" (mirror, as torchvision's reflect padding).
        interpolation: "bilinear" or "nearest".
    """

    projective = False  # True for ops whose matrices have a perspective row
    axis_aligned = False  # True for ops that only scale and shift each axis (cheaper resampling)

    def __init__(self, p: float = 1.0, padding_mode: str = "zeros", interpolation: str = "bilinear") -> None:
        super().__init__()
        if padding_mode not in PADDING_MODES:
            raise ConfigError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ConfigError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self.p = _check_p(p)
        self.padding_mode = padding_mode
        self.interpolation = interpolation

    def sample(
        self, n: int, h: int, w: int, device: torch.device, generator: torch.Generator | None
    ) -> Tensor:
        """Draw ``n`` forward matrices [n, 3, 3] in normalised coordinates for ``h`` x ``w`` images."""
        raise NotImplementedError

    def matrices(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Per-sample forward matrices for batch ``x``, identity where the op does not fire."""
        n, _, h, w = x.shape
        mats = self.sample(n, h, w, x.device, generator)
        mask = _applied(self.p, n, generator, x.device)
        if mask is not None:
            mats = torch.where(mask.view(-1, 1, 1), mats, _eye(n, x.device))
        return mats

    def fuses_with(self, other: GeometricOp) -> bool:
        """Whether one resample can serve both ops (same border fill and interpolation)."""
        return self.padding_mode == other.padding_mode and self.interpolation == other.interpolation

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Transform each sample by its own random matrix."""
        return warp(
            x,
            self.matrices(x, generator),
            self.padding_mode,
            self.interpolation,
            self.projective,
            self.axis_aligned,
        )

    def extra_repr(self) -> str:
        return f"p={self.p}, padding_mode={self.padding_mode!r}, interpolation={self.interpolation!r}"


# ----------------------------------------------------------------------------------------------
# geometric ops


class RandomAffine(GeometricOp):
    """Per-sample rotation, translation, isotropic scale and shear, composed as T * R * Shear * S about the centre.

    Args:
        degrees: rotation range in degrees; v means (-v, v). Positive turns counter-clockwise on screen.
        translate: maximum shift as a fraction of width and height, (tx, ty) or one number for both.
        scale: (low, high) zoom factor range; > 1 magnifies the content. None keeps the size.
        shear: x-shear range in degrees (v means (-v, v)), or four numbers (x_lo, x_hi, y_lo, y_hi).
    """

    def __init__(
        self,
        degrees: float | Sequence[float] = 0.0,
        translate: float | Sequence[float] = 0.0,
        scale: Sequence[float] | None = None,
        shear: float | Sequence[float] = 0.0,
        p: float = 1.0,
        padding_mode: str = "zeros",
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__(p, padding_mode, interpolation)
        self.degrees = _range(degrees, "degrees", symmetric=True)
        tr = [float(translate)] * 2 if isinstance(translate, (int, float)) else [float(v) for v in translate]
        if len(tr) != 2 or not all(0.0 <= v <= 1.0 for v in tr):
            raise ConfigError(f"translate must be one fraction or a (tx, ty) pair in [0, 1], got {tr}")
        self.translate = (tr[0], tr[1])
        self.scale = (1.0, 1.0) if scale is None else _range(scale, "scale", symmetric=False)
        if self.scale[0] <= 0:
            raise ConfigError(f"scale must be > 0, got {list(self.scale)}")
        if isinstance(shear, (int, float)):
            self.shear = (*_range(shear, "shear", symmetric=True), 0.0, 0.0)
        else:
            sh = [float(v) for v in shear]
            if len(sh) == 2:
                sh += [0.0, 0.0]
            if len(sh) != 4:
                raise ConfigError(f"shear must be a number, a pair or four numbers, got {sh}")
            self.shear = (
                *_range(sh[:2], "shear x", symmetric=True),
                *_range(sh[2:], "shear y", symmetric=True),
            )
        self.axis_aligned = self.degrees == (0.0, 0.0) and not any(self.shear)

    def sample(
        self, n: int, h: int, w: int, device: torch.device, generator: torch.Generator | None
    ) -> Tensor:
        """Draw ``n`` affine forward matrices [n, 3, 3] in normalised coordinates."""
        u = torch.rand((n, 6), generator=generator, device=device)

        def lerp(col: int, lo: float, hi: float) -> Tensor:
            return u[:, col] * (hi - lo) + lo

        angle = torch.deg2rad(lerp(0, *self.degrees))
        tx = lerp(1, -self.translate[0], self.translate[0]) * 2  # fraction of width -> normalised units
        ty = lerp(2, -self.translate[1], self.translate[1]) * 2
        s = lerp(3, *self.scale)
        shx = torch.tan(torch.deg2rad(lerp(4, self.shear[0], self.shear[1])))
        shy = torch.tan(torch.deg2rad(lerp(5, self.shear[2], self.shear[3])))
        cos, sin = torch.cos(angle), torch.sin(angle)
        # R @ Shear in pixel units, R = [[cos, sin], [-sin, cos]] (y points down, so this is counter-clockwise).
        a = (cos + sin * shy) * s
        b = (cos * shx + sin) * s
        c = (-sin + cos * shy) * s
        d = (-sin * shx + cos) * s
        # Rotating in normalised units would shear non-square images: rescale the off-diagonal
        # terms by the aspect ratio (D^-1 A D with D = diag(w/2, h/2)).
        return _matrix(a, b * (h / w), tx, c * (w / h), d, ty)

    def extra_repr(self) -> str:
        return (
            f"degrees={self.degrees}, translate={self.translate}, scale={self.scale}, shear={self.shear}, "
            + super().extra_repr()
        )


class RandomRotation(RandomAffine):
    """Per-sample rotation about the centre by an angle drawn from ``degrees`` (v means (-v, v))."""

    def __init__(
        self,
        degrees: float | Sequence[float],
        p: float = 1.0,
        padding_mode: str = "zeros",
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__(degrees=degrees, p=p, padding_mode=padding_mode, interpolation=interpolation)


class RandomZoom(RandomAffine):
    """Per-sample isotropic zoom about the centre by a factor drawn from ``scale`` (> 1 magnifies)."""

    def __init__(
        self,
        scale: Sequence[float] = (0.9, 1.1),
        p: float = 1.0,
        padding_mode: str = "zeros",
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__(scale=scale, p=p, padding_mode=padding_mode, interpolation=interpolation)


class RandomWarp(GeometricOp):
    """Per-sample perspective warp: each image corner moves independently by up to ``max_px`` pixels per axis.

    The four displaced corners define a homography, so straight lines stay straight; this is the
    perspective reading of "random warp by at most N pixels at each axis" (not an elastic warp).
    ``max_px`` is in pixels of the input, so scale it with the image size (7 px at 48 ~ 33 px at 224).
    """

    projective = True

    def __init__(
        self,
        max_px: float = 7.0,
        p: float = 1.0,
        padding_mode: str = "zeros",
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__(p, padding_mode, interpolation)
        if float(max_px) < 0:
            raise ConfigError(f"max_px must be >= 0, got {max_px}")
        self.max_px = float(max_px)

    def sample(
        self, n: int, h: int, w: int, device: torch.device, generator: torch.Generator | None
    ) -> Tensor:
        """Draw ``n`` homographies [n, 3, 3] taking the image corners to jittered corners."""
        corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], device=device)
        jitter = _uniform(-self.max_px, self.max_px, (n, 4, 2), generator, device)
        q = corners + jitter * torch.tensor([2.0 / w, 2.0 / h], device=device)
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = (q[:, i].unbind(-1) for i in range(4))
        # Closed-form unit-square -> quadrilateral homography (Heckbert 1989), elementwise per sample.
        dx1, dx2, dx3 = x1 - x2, x3 - x2, x0 - x1 + x2 - x3
        dy1, dy2, dy3 = y1 - y2, y3 - y2, y0 - y1 + y2 - y3
        det = dx1 * dy2 - dx2 * dy1
        g = (dx3 * dy2 - dx2 * dy3) / det
        k = (dx1 * dy3 - dx3 * dy1) / det
        a, b, c = x1 - x0 + g * x1, x3 - x0 + k * x3, x0
        d, e, f = y1 - y0 + g * y1, y3 - y0 + k * y3, y0
        # Precompose with [-1, 1]^2 -> [0, 1]^2, s = (x + 1) / 2, so corners are in normalised coordinates.
        return torch.stack(
            [a / 2, b / 2, (a + b) / 2 + c, d / 2, e / 2, (d + e) / 2 + f, g / 2, k / 2, (g + k) / 2 + 1],
            dim=-1,
        ).view(n, 3, 3)

    def extra_repr(self) -> str:
        return f"max_px={self.max_px}, " + super().extra_repr()


class RandomResizedCrop(GeometricOp):
    """Per-sample crop of random area and aspect ratio, resized back to the input size (torchvision semantics).

    Args:
        scale: crop area as a fraction of the (padded) image area. The default (0.5, 1) keeps most
            of a face; torchvision's (0.08, 1) would often crop away the expression.
        ratio: crop width/height range; drawn log-uniformly.
        pad: the crop is drawn from the image extended by ``pad`` pixels on every side, filled per
            ``padding_mode``; ``pad=4, padding_mode="reflect"`` equals torchvision's
            ``Pad(4, padding_mode="reflect")`` followed by ``RandomResizedCrop(input size)``.

    Crop boxes are continuous (sub-pixel), not rounded to whole pixels as torchvision does. Like
    torchvision, up to 10 (area, ratio) draws are tried per sample and the first that fits is kept;
    if none fits, the first draw is clipped to the image.
    """

    _TRIES = 10
    axis_aligned = True

    def __init__(
        self,
        scale: Sequence[float] = (0.5, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        pad: int = 0,
        p: float = 1.0,
        padding_mode: str = "reflect",
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__(p, padding_mode, interpolation)
        self.scale = _range(scale, "scale", symmetric=False)
        self.ratio = _range(ratio, "ratio", symmetric=False)
        if not (self.scale[0] > 0 and self.scale[1] <= 1):
            raise ConfigError(f"scale must lie in (0, 1], got {list(self.scale)}")
        if self.ratio[0] <= 0:
            raise ConfigError(f"ratio must be > 0, got {list(self.ratio)}")
        if int(pad) < 0:
            raise ConfigError(f"pad must be >= 0, got {pad}")
        self.pad = int(pad)

    def sample(
        self, n: int, h: int, w: int, device: torch.device, generator: torch.Generator | None
    ) -> Tensor:
        """Draw ``n`` crop-and-resize forward matrices [n, 3, 3] in normalised coordinates."""
        dw, dh = w + 2 * self.pad, h + 2 * self.pad
        area = _uniform(*self.scale, (n, self._TRIES), generator, device) * (dw * dh)
        log_r = _uniform(
            math.log(self.ratio[0]), math.log(self.ratio[1]), (n, self._TRIES), generator, device
        )
        r = torch.exp(log_r)
        cw, ch = torch.sqrt(area * r), torch.sqrt(area / r)
        fits = (cw <= dw) & (ch <= dh)
        first = fits.int().argmax(dim=1, keepdim=True)  # index 0 when nothing fits
        cw = cw.gather(1, first).squeeze(1).clamp(max=dw)
        ch = ch.gather(1, first).squeeze(1).clamp(max=dh)
        pos = torch.rand((n, 2), generator=generator, device=device)
        # Crop centre in pixels from the image centre, the padded image spanning [-dw/2, dw/2].
        cx = -dw / 2 + pos[:, 0] * (dw - cw) + cw / 2
        cy = -dh / 2 + pos[:, 1] * (dh - ch) + ch / 2
        sx, sy = w / cw, h / ch
        zero = torch.zeros_like(sx)
        return _matrix(sx, zero, -sx * cx * (2 / w), zero, sy, -sy * cy * (2 / h))

    def extra_repr(self) -> str:
        return f"scale={self.scale}, ratio={self.ratio}, pad={self.pad}, " + super().extra_repr()


class ReflectPadCrop(GeometricOp):
    """Per-sample whole-pixel shift of up to ``pad`` pixels per axis, as ``Pad(pad, reflect)`` then a random crop.

    Uses nearest interpolation by default so the shifted pixels are copied exactly.
    """

    axis_aligned = True

    def __init__(
        self, pad: int = 4, p: float = 1.0, padding_mode: str = "reflect", interpolation: str = "nearest"
    ) -> None:
        super().__init__(p, padding_mode, interpolation)
        if int(pad) < 0:
            raise ConfigError(f"pad must be >= 0, got {pad}")
        self.pad = int(pad)

    def sample(
        self, n: int, h: int, w: int, device: torch.device, generator: torch.Generator | None
    ) -> Tensor:
        """Draw ``n`` integer-translation forward matrices [n, 3, 3] in normalised coordinates."""
        shift = torch.randint(-self.pad, self.pad + 1, (n, 2), generator=generator, device=device).float()
        one, zero = torch.ones(n, device=device), torch.zeros(n, device=device)
        # Output pixel j shows input pixel j + shift, i.e. the content moves by -shift.
        return _matrix(one, zero, -shift[:, 0] * (2 / w), zero, one, -shift[:, 1] * (2 / h))

    def extra_repr(self) -> str:
        return f"pad={self.pad}, " + super().extra_repr()


class RandomCrop(nn.Module):
    """Per-sample random ``size`` x ``size`` window at whole-pixel offsets: training images smaller than the data.

    The classic FER2013 recipe: train on random 44x44 crops of the 48x48 faces, evaluate on the centre 44x44
    crop (``augment.crop_size`` makes the network do that itself in eval mode, see ``fer_lightning.build``).
    Each training step costs about (size/48)^2 of a full-size one. Put it last among the geometric ops: it
    changes the image size, so ops after it see the crop.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        check_positive_int("RandomCrop size", size, " (pixels)")
        self.size = size

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Cut one window per sample; the offsets are uniform over the positions that fit."""
        n, c, h, w = x.shape
        if self.size > min(h, w):
            raise ConfigError(f"RandomCrop size={self.size} is larger than the {h}x{w} images it gets")
        dev = x.device
        top = torch.randint(0, h - self.size + 1, (n, 1), generator=generator, device=dev)
        left = torch.randint(0, w - self.size + 1, (n, 1), generator=generator, device=dev)
        steps = torch.arange(self.size, device=dev).view(1, -1)
        rows, cols = top + steps, left + steps  # [n, size] each
        batch = torch.arange(n, device=dev).view(n, 1, 1)
        # advanced indexing moves the channel dim last: [n, size, size, c]
        out = x.permute(0, 2, 3, 1)[batch, rows.unsqueeze(2), cols.unsqueeze(1)]
        return out.permute(0, 3, 1, 2).contiguous()

    def extra_repr(self) -> str:
        return f"size={self.size}"


def center_crop(x: Tensor, size: int) -> Tensor:
    """The centre ``size`` x ``size`` window of images ``[..., H, W]``; smaller images are returned as they are."""
    h, w = x.shape[-2:]
    if h <= size and w <= size:
        return x
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return x[..., top : top + size, left : left + size]


# ----------------------------------------------------------------------------------------------
# pixel-wise and photometric ops


class HorizontalFlip(nn.Module):
    """Mirror each sample left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _check_p(p)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Flip the selected samples."""
        mask = _applied(self.p, x.shape[0], generator, x.device)
        if mask is None:
            return x.flip(-1)
        return torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class GaussianBlur(nn.Module):
    """Separable Gaussian blur with a per-sample sigma drawn from ``sigma``; sigma 0 leaves a sample unchanged.

    Args:
        kernel_size: odd kernel width; None picks 2*ceil(3*sigma_max)+1 so the tails are not cut.
        sigma: (low, high) range, or one number for a fixed sigma.
        p: probability that a sample is blurred.

    Borders are reflect-padded, as torchvision's GaussianBlur does.
    """

    def __init__(
        self, kernel_size: int | None = None, sigma: float | Sequence[float] = (0.0, 0.8), p: float = 1.0
    ) -> None:
        super().__init__()
        self.sigma = _range(sigma, "sigma", symmetric=False, minimum=0.0)
        if kernel_size is None:
            kernel_size = 2 * max(1, math.ceil(3 * self.sigma[1])) + 1
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise ConfigError(f"kernel_size must be a positive odd integer, got {kernel_size}")
        self.kernel_size = int(kernel_size)
        self.p = _check_p(p)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Blur each sample with its own kernel."""
        n = x.shape[0]
        sigma = _uniform(*self.sigma, (n,), generator, x.device)
        mask = _applied(self.p, n, generator, x.device)
        if mask is not None:
            sigma = torch.where(mask, sigma, torch.zeros_like(sigma))
        r = self.kernel_size // 2
        if r == 0:
            return x
        t = torch.arange(-r, r + 1, device=x.device, dtype=torch.float32)
        # A tiny floor turns sigma 0 into an exact delta kernel (exp(-t^2 / ~0) = 0 off-centre) without NaNs.
        s = sigma.clamp(min=1e-6).view(-1, 1)
        k = torch.exp(-(t**2) / (2 * s**2))
        k = (k / k.sum(dim=1, keepdim=True)).to(x.dtype)
        _, _, h, w = x.shape
        mode = "reflect" if r < min(h, w) else "replicate"
        xp = F.pad(x, (r, r, r, r), mode=mode)
        # Separable per-sample convolution as shifted multiply-adds: a blur has only a few taps, and
        # this needs no grouped-conv weights rebuilt per batch and runs for any dtype and device.
        kk = k.view(n, 1, 1, 1, -1)
        rows = xp[..., :, 0:w] * kk[..., 0]
        for i in range(1, self.kernel_size):
            rows.addcmul_(xp[..., :, i : i + w], kk[..., i])
        out = rows[..., 0:h, :] * kk[..., 0]
        for i in range(1, self.kernel_size):
            out.addcmul_(rows[..., i : i + h, :], kk[..., i])
        return out

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, sigma={self.sigma}, p={self.p}"


class Brightness(nn.Module):
    """Add a per-sample offset drawn from ``delta`` (v means (-v, v)) to every pixel, then clip to [0, 1].

    Additive, unlike torchvision's multiplicative brightness factor, so dark faces brighten as much as light ones.
    """

    def __init__(self, delta: float | Sequence[float] = 0.1, p: float = 1.0) -> None:
        super().__init__()
        self.delta = _range(delta, "delta", symmetric=True)
        self.p = _check_p(p)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Shift each sample's intensities by its own offset."""
        n = x.shape[0]
        d = _uniform(*self.delta, (n,), generator, x.device)
        mask = _applied(self.p, n, generator, x.device)
        if mask is not None:
            d = torch.where(mask, d, torch.zeros_like(d))
        return (x + d.to(x.dtype).view(-1, 1, 1, 1)).clamp(0.0, 1.0)

    def extra_repr(self) -> str:
        return f"delta={self.delta}, p={self.p}"


class Contrast(nn.Module):
    """Scale each sample's deviation from its own mean by a factor drawn from ``factor``, then clip to [0, 1].

    One number f means (max(0, 1 - f), 1 + f), as torchvision's ColorJitter reads it. The mean is over
    all channels and pixels of the sample (torchvision uses the grayscale mean; equal for 1 channel).
    """

    def __init__(self, factor: float | Sequence[float] = (0.8, 1.2), p: float = 1.0) -> None:
        super().__init__()
        if isinstance(factor, (int, float)):
            if factor < 0:
                raise ConfigError(f"factor must be >= 0, got {factor}")
            factor = (max(0.0, 1.0 - float(factor)), 1.0 + float(factor))
        self.factor = _range(factor, "factor", symmetric=False, minimum=0.0)
        self.p = _check_p(p)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Stretch or flatten each sample's contrast by its own factor."""
        n = x.shape[0]
        f = _uniform(*self.factor, (n,), generator, x.device)
        mask = _applied(self.p, n, generator, x.device)
        if mask is not None:
            f = torch.where(mask, f, torch.ones_like(f))
        f = f.to(x.dtype).view(-1, 1, 1, 1)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return ((x - mean) * f + mean).clamp(0.0, 1.0)

    def extra_repr(self) -> str:
        return f"factor={self.factor}, p={self.p}"


class RandomErasing(nn.Module):
    """With probability ``p``, fill one random rectangle per sample with ``value`` (torchvision's area/ratio draw).

    The rectangle's area is ``scale`` times the image area and its height/width ratio is drawn
    log-uniformly from ``ratio``; sides are clipped to the image. Runs before normalisation, so
    ``value`` is an intensity in [0, 1].
    """

    def __init__(
        self,
        p: float = 0.5,
        scale: Sequence[float] = (0.02, 0.33),
        ratio: Sequence[float] = (0.3, 3.3),
        value: float = 0.0,
    ) -> None:
        super().__init__()
        self.p = _check_p(p)
        self.scale = _range(scale, "scale", symmetric=False, minimum=0.0)
        self.ratio = _range(ratio, "ratio", symmetric=False)
        if self.ratio[0] <= 0:
            raise ConfigError(f"ratio must be > 0, got {list(self.ratio)}")
        self.value = float(value)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Erase one rectangle in each selected sample."""
        n, _, h, w = x.shape
        dev = x.device
        area = _uniform(*self.scale, (n,), generator, dev) * (h * w)
        r = torch.exp(_uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), (n,), generator, dev))
        eh = torch.sqrt(area * r).clamp(max=h)
        ew = torch.sqrt(area / r).clamp(max=w)
        pos = torch.rand((n, 2), generator=generator, device=dev)
        top = pos[:, 0] * (h - eh)
        left = pos[:, 1] * (w - ew)
        mask = _applied(self.p, n, generator, dev)
        ys = torch.arange(h, device=dev, dtype=torch.float32).view(1, h, 1) + 0.5
        xs = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, w) + 0.5
        inside = (
            (ys >= top.view(-1, 1, 1))
            & (ys < (top + eh).view(-1, 1, 1))
            & (xs >= left.view(-1, 1, 1))
            & (xs < (left + ew).view(-1, 1, 1))
        )
        if mask is not None:
            inside = inside & mask.view(-1, 1, 1)
        return torch.where(inside.unsqueeze(1), torch.full_like(x, self.value), x)

    def extra_repr(self) -> str:
        return f"p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value}"
