"""Batch augmentation: presets compose, ops draw per-sample parameters, seeded runs repeat, TTA views are right."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fer_lightning.augment import (
    Augment,
    Brightness,
    Contrast,
    GaussianBlur,
    HorizontalFlip,
    RandomAffine,
    RandomErasing,
    RandomResizedCrop,
    RandomRotation,
    RandomWarp,
    RandomZoom,
    ReflectPadCrop,
    default_crop_size,
    measure_augment,
    tta_logits,
    tta_views,
)
from fer_lightning.augment.ops import compose as compose_maps
from fer_lightning.augment.ops import invert
from fer_lightning.errors import ConfigError

CONF = Path(__file__).resolve().parents[1] / "src" / "fer_lightning" / "conf"
PRESETS = ["none", "athanasopoulos", "dibenedetto", "dinh_gray", "standard"]


def gen(seed: int = 0) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def smooth_images(n: int, c: int = 1, h: int = 48, w: int = 48) -> torch.Tensor:
    """Low-frequency images in [0.2, 0.8]: resampling them barely blurs, so geometry can be compared closely."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    phase = torch.arange(n * c, dtype=torch.float32).view(n, c, 1, 1)
    return 0.5 + 0.3 * torch.sin(2.0 * xx + 3.0 * yy + phase) * torch.cos(1.5 * yy - xx)


def rand_images(n: int, c: int = 1, h: int = 48, w: int = 48, seed: int = 0) -> torch.Tensor:
    """Uniform noise images in [0, 1), the same for the same seed."""
    return torch.rand((n, c, h, w), generator=gen(seed))


# One instance of every op, for the properties all of them share.
ALL_OPS = {
    "flip": lambda: HorizontalFlip(0.5),
    "rotation": lambda: RandomRotation(30),
    "zoom": lambda: RandomZoom((0.8, 1.2)),
    "affine": lambda: RandomAffine(10, (0.1, 0.1), (0.9, 1.1), 5, padding_mode="reflect"),
    "warp": lambda: RandomWarp(7),
    "rrc": lambda: RandomResizedCrop((0.5, 1.0), pad=4),
    "padcrop": lambda: ReflectPadCrop(4),
    "blur": lambda: GaussianBlur(None, (0.0, 0.8)),
    "brightness": lambda: Brightness((-0.2, 0.2)),
    "contrast": lambda: Contrast((0.6, 1.4)),
    "erasing": lambda: RandomErasing(p=0.5),
}


# ---------------------------------------------------------------------------------------------- presets


def load_preset(name: str) -> Augment:
    """Compose ``augment=<name>`` from the real config tree and instantiate it."""
    with initialize_config_dir(version_base=None, config_dir=str(CONF)):
        cfg = compose(config_name=None, overrides=[f"+augment={name}"])
    aug = instantiate(cfg.augment)
    assert isinstance(aug, Augment)
    return aug


def test_presets_present() -> None:
    assert {p.stem for p in (CONF / "augment").glob("*.yaml")} >= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_composes_and_keeps_shape_and_range(name: str) -> None:
    aug = load_preset(name)
    assert isinstance(instantiate(OmegaConf.load(CONF / "augment" / f"{name}.yaml")), Augment)
    for shape in [(16, 1, 48, 48), (2, 3, 224, 224), (4, 3, 40, 56)]:
        x = rand_images(*shape)
        y = aug(x, generator=gen(1))
        assert y.shape == x.shape and y.dtype == torch.float32
        assert y.min() >= 0.0 and y.max() <= 1.0
        assert torch.isfinite(y).all()
        z = aug.add_noise((y - 0.5) / 0.25, generator=gen(2))
        assert z.shape == x.shape and torch.isfinite(z).all()


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_deterministic_for_a_seed(name: str) -> None:
    aug = load_preset(name)
    x = rand_images(8)
    a = aug.add_noise(aug(x, generator=gen(3)), generator=gen(4))
    b = aug.add_noise(aug(x, generator=gen(3)), generator=gen(4))
    assert torch.equal(a, b)
    if name != "none":
        c = aug.add_noise(aug(x, generator=gen(5)), generator=gen(6))
        assert not torch.equal(a, c)


def test_athanasopoulos_noise_and_ranges() -> None:
    aug = load_preset("athanasopoulos")
    assert aug.noise_std == pytest.approx(0.05)
    kinds = {type(op).__name__: op for op in aug.ops}
    assert kinds["RandomRotation"].degrees == (-30.0, 30.0)
    assert kinds["RandomWarp"].max_px == 7.0
    assert kinds["GaussianBlur"].sigma == (0.0, 0.8)


# ---------------------------------------------------------------------------------------------- every op


@pytest.mark.parametrize("name", sorted(ALL_OPS))
def test_op_is_size_agnostic_and_per_sample(name: str) -> None:
    op = ALL_OPS[name]()
    for shape in [(3, 1, 48, 48), (2, 3, 30, 44)]:
        x = rand_images(*shape)
        y = op(x, generator=gen(0))
        assert y.shape == x.shape and y.dtype == x.dtype
        assert y.min() >= 0.0 and y.max() <= 1.0
    # 32 copies of one image must come out in several different ways.
    x = smooth_images(1).expand(32, 1, 48, 48).contiguous()
    y = op(x, generator=gen(7))
    distinct = {tuple(torch.round(img.flatten()[::97] * 1e4).tolist()) for img in y}
    assert len(distinct) >= 2


@pytest.mark.parametrize("name", sorted(ALL_OPS))
def test_op_seeded_generator_repeats(name: str) -> None:
    op = ALL_OPS[name]()
    x = rand_images(16)
    assert torch.equal(op(x, generator=gen(11)), op(x, generator=gen(11)))
    assert not torch.equal(op(x, generator=gen(11)), op(x, generator=gen(12)))


def test_global_rng_used_without_generator() -> None:
    x = rand_images(8)
    torch.manual_seed(0)
    a = RandomRotation(20)(x)
    torch.manual_seed(0)
    assert torch.equal(a, RandomRotation(20)(x))


# ---------------------------------------------------------------------------------------------- identities


@pytest.mark.parametrize(
    "op",
    [
        HorizontalFlip(p=0.0),
        GaussianBlur(5, sigma=0.0),
        RandomRotation(0),
        RandomRotation(30, p=0.0),
        RandomAffine(),
        RandomAffine(20, 0.2, (0.5, 2.0), 10, p=0.0, padding_mode="reflect"),
        RandomWarp(0),
        RandomZoom((1.0, 1.0)),
        RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0)),
        ReflectPadCrop(0),
        Brightness(0.0),
        Contrast((1.0, 1.0)),
        RandomErasing(p=0.0),
        Augment([]),
    ],
    ids=lambda op: type(op).__name__,
)
def test_identity_settings_return_the_input(op: torch.nn.Module) -> None:
    x = rand_images(8, 3, 48, 48)
    torch.testing.assert_close(op(x, generator=gen(0)), x, atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------------------- correctness


def test_flip_matches_torch_flip_and_is_per_sample() -> None:
    x = rand_images(4, 3, 20, 30)
    assert torch.equal(HorizontalFlip(p=1.0)(x), torch.flip(x, dims=[-1]))
    same = rand_images(1).expand(64, 1, 48, 48)
    y = HorizontalFlip(p=0.5)(same, generator=gen(0))
    flipped = torch.tensor([torch.equal(img, same[0].flip(-1)) for img in y])
    kept = torch.tensor([torch.equal(img, same[0]) for img in y])
    assert (flipped | kept).all()
    assert 10 < int(flipped.sum()) < 54


def test_rotation_direction_is_counter_clockwise() -> None:
    x = rand_images(2, 1, 48, 48)
    y = RandomRotation((90, 90))(x)
    torch.testing.assert_close(y, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-4, rtol=0)


def test_rotation_differs_per_sample() -> None:
    same = smooth_images(1).expand(16, 1, 48, 48)
    y = RandomRotation(30)(same, generator=gen(0))
    diffs = (y[1:] - y[:1]).flatten(1).abs().amax(dim=1)
    assert (diffs > 1e-3).all()


def test_reflect_pad_crop_equals_pad_then_crop() -> None:
    x = rand_images(32, 2, 12, 10)
    y = ReflectPadCrop(4)(x, generator=gen(0))
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    offsets = set()
    for i in range(len(x)):
        hits = [
            (dy, dx)
            for dy in range(9)
            for dx in range(9)
            if torch.equal(y[i], padded[i, :, dy : dy + 12, dx : dx + 10])
        ]
        assert hits, f"sample {i} is not a crop of the reflect-padded image"
        offsets.add(hits[0])
    assert len(offsets) > 5


def test_resized_crop_over_padding_equals_torchvision_chain() -> None:
    # scale 1, ratio 1: Pad(4, reflect) -> crop the whole 56x56 -> resize to 48x48.
    x = rand_images(4, 1, 48, 48)
    y = RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0), pad=4)(x, generator=gen(0))
    ref = F.interpolate(
        F.pad(x, (4, 4, 4, 4), mode="reflect"), size=(48, 48), mode="bilinear", align_corners=False
    )
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=0)


def test_resized_crop_zooms_in_per_sample() -> None:
    # A crop magnifies: the same intensity change spreads over more pixels, so neighbours differ less.
    x = smooth_images(32)
    y = RandomResizedCrop(scale=(0.25, 0.5))(x, generator=gen(0))
    grad = lambda t: (t[..., 1:] - t[..., :-1]).abs().mean(dim=(1, 2, 3))  # noqa: E731
    assert (grad(y) < 0.9 * grad(x)).all()


def test_warp_moves_corners_by_at_most_max_px() -> None:
    op = RandomWarp(7)
    mats = op.sample(256, 48, 40, torch.device("cpu"), gen(0))
    corners = torch.tensor([[-1.0, -1.0, 1.0], [1.0, -1.0, 1.0], [1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]])
    moved = corners @ mats.transpose(1, 2)
    moved = moved[..., :2] / moved[..., 2:]
    shift_px = (moved - corners[:, :2]) * torch.tensor([40 / 2, 48 / 2])
    assert shift_px.abs().max() <= 7.0 + 1e-3
    assert shift_px.abs().max() > 5.0


def test_matrix_helpers() -> None:
    m = RandomAffine(30, 0.2, (0.7, 1.3), 10).sample(16, 48, 40, torch.device("cpu"), gen(0))
    w = RandomWarp(5).sample(16, 48, 40, torch.device("cpu"), gen(1))
    torch.testing.assert_close(invert(w), torch.linalg.inv(w), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(compose_maps(w, m), w @ m)


def test_fused_geometry_matches_sequential() -> None:
    ops = [RandomRotation(10), RandomZoom((1.0, 1.15)), RandomWarp(2)]
    x = smooth_images(16)
    fused = Augment(ops)(x, generator=gen(0))
    sequential = Augment(ops, fuse_geometric=False)(x, generator=gen(0))
    inner = (slice(None), slice(None), slice(8, 40), slice(8, 40))
    torch.testing.assert_close(fused[inner], sequential[inner], atol=2e-3, rtol=0)


def test_blur_keeps_mean_and_lowers_variance() -> None:
    x = rand_images(16, 1, 48, 48)
    y = GaussianBlur(sigma=(0.8, 0.8))(x, generator=gen(0))
    torch.testing.assert_close(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=5e-3, rtol=0)
    assert (y.var(dim=(1, 2, 3)) < 0.6 * x.var(dim=(1, 2, 3))).all()
    # A per-sample sigma in (0, 0.8): the variance drop differs between samples.
    same = rand_images(1).expand(16, 1, 48, 48)
    v = GaussianBlur(sigma=(0.0, 0.8))(same, generator=gen(1)).var(dim=(1, 2, 3))
    assert v.max() - v.min() > 0.01


def test_blur_kernel_size_rules() -> None:
    assert GaussianBlur(sigma=(0.0, 0.8)).kernel_size == 7
    with pytest.raises(ConfigError):
        GaussianBlur(kernel_size=4)


def test_brightness_and_contrast_are_per_sample_scalars() -> None:
    x = 0.4 + 0.2 * rand_images(32)
    b = Brightness((-0.1, 0.1))(x, generator=gen(0))
    shift = (b - x).flatten(1)
    torch.testing.assert_close(shift.amax(dim=1), shift.amin(dim=1), atol=1e-6, rtol=0)
    assert shift[:, 0].std() > 0.02
    c = Contrast((0.5, 1.5))(x, generator=gen(0))
    torch.testing.assert_close(c.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-5, rtol=0)
    ratio = c.std(dim=(1, 2, 3)) / x.std(dim=(1, 2, 3))
    assert ratio.min() < 0.8 and ratio.max() > 1.2


def test_erasing_fills_a_rectangle() -> None:
    x = 0.5 + 0.1 * rand_images(64)
    y = RandomErasing(p=0.5, value=0.0)(x, generator=gen(0))
    erased = (y == 0).flatten(1).any(dim=1)
    assert 10 < int(erased.sum()) < 54
    assert torch.equal(y[~erased], x[~erased])


def test_noise_has_configured_std() -> None:
    aug = Augment([], noise_std=0.05)
    x = torch.zeros(64, 1, 48, 48)
    noisy = aug.add_noise(x, generator=gen(0))
    assert noisy.std().item() == pytest.approx(0.05, rel=0.02)
    assert abs(noisy.mean().item()) < 1e-3
    assert Augment([]).add_noise(x) is x


def test_bad_config_values_raise_config_error() -> None:
    with pytest.raises(ConfigError):
        HorizontalFlip(p=1.5)
    with pytest.raises(ConfigError):
        RandomRotation(10, padding_mode="wrap")
    with pytest.raises(ConfigError):
        RandomResizedCrop(scale=(0.5, 1.5))
    with pytest.raises(ConfigError):
        Augment([], noise_std=-1.0)


def test_measure_augment_reports_images_per_second() -> None:
    threads = torch.get_num_threads()
    rate = measure_augment(load_preset("dinh_gray"), batch_size=32, seconds=0.05, num_threads=1)
    assert rate > 0 and math.isfinite(rate)
    assert torch.get_num_threads() == threads


# ---------------------------------------------------------------------------------------------- TTA


def test_tta_view_counts_and_shapes() -> None:
    x = rand_images(3, 1, 48, 48)
    assert tta_views(x, "none").shape == (1, 3, 1, 48, 48)
    assert tta_views(x, "flip").shape == (2, 3, 1, 48, 48)
    assert tta_views(x, "tencrop").shape == (10, 3, 1, 48, 48)
    assert tta_views(rand_images(2, 3, 30, 40), "tencrop").shape == (10, 2, 3, 30, 40)
    assert default_crop_size(48) == 44
    with pytest.raises(ConfigError):
        tta_views(x, "fivecrop")


def test_tta_flip_views_are_exact_flips() -> None:
    x = rand_images(3, 1, 48, 48)
    flip = tta_views(x, "flip")
    assert torch.equal(flip[0], x) and torch.equal(flip[1], x.flip(-1))
    ten = tta_views(x, "tencrop")
    assert torch.equal(ten[5:], ten[:5].flip(-1))
    centre = F.interpolate(x[..., 2:46, 2:46], size=(48, 48), mode="bilinear", align_corners=False)
    torch.testing.assert_close(ten[4], centre)
    top_left = F.interpolate(x[..., :40, :40], size=(48, 48), mode="bilinear", align_corners=False)
    torch.testing.assert_close(tta_views(x, "tencrop", crop_size=40)[0], top_left)


@pytest.mark.parametrize("mode", ["none", "flip", "tencrop"])
def test_tta_logits_is_the_average_over_views(mode: str) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48 * 48, 7))
    x = rand_images(4, 1, 48, 48)
    views = tta_views(x, mode)
    manual = torch.stack([model(v) for v in views]).mean(dim=0)
    torch.testing.assert_close(tta_logits(model, x, mode), manual)
    probs = torch.stack([model(v).softmax(-1) for v in views]).mean(dim=0)
    torch.testing.assert_close(tta_logits(model, x, mode, average="probs").softmax(-1), probs)
