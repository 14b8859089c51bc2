"""`augment.crop_size` / `RandomCrop`: train on random windows, evaluate on the centre window."""

from __future__ import annotations

import glob

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fer_lightning.augment import Augment, RandomCrop
from fer_lightning.errors import ConfigError
from fer_lightning.train import train


def gen(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def numbered(n: int = 64, size: int = 8) -> torch.Tensor:
    """Images whose every pixel holds its own (row, column) as row * 100 + column."""
    grid = torch.arange(size).view(-1, 1) * 100 + torch.arange(size).view(1, -1)
    return grid.float().expand(n, 1, size, size).clone()


def test_each_sample_gets_an_exact_window_at_its_own_offset() -> None:
    x = numbered()
    out = RandomCrop(5)(x, generator=gen(0))
    assert out.shape == (64, 1, 5, 5)
    top, left = (out[:, 0, 0, 0] // 100).long(), (out[:, 0, 0, 0] % 100).long()
    for i in range(64):  # a copy of the pixels, no resampling
        assert torch.equal(out[i, 0], x[i, 0, top[i] : top[i] + 5, left[i] : left[i] + 5])
    # offsets are drawn per sample and cover every position that fits (0..3 on each axis)
    assert set(top.tolist()) == set(range(4)) and set(left.tolist()) == set(range(4))


def test_the_draw_follows_the_generator_and_keeps_channels_apart() -> None:
    x = torch.rand(16, 3, 12, 12, generator=gen(1))
    a, b = RandomCrop(9)(x, generator=gen(2)), RandomCrop(9)(x, generator=gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, RandomCrop(9)(x, generator=gen(3)))
    # all three channels of a sample come from the same window
    for c in range(3):
        single = RandomCrop(9)(x[:, c : c + 1], generator=gen(2))
        assert torch.equal(a[:, c : c + 1], single)
    assert torch.equal(RandomCrop(12)(x, generator=gen(4)), x)  # the full size is the identity


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "44"])
def test_bad_sizes_are_refused(bad) -> None:
    with pytest.raises(ConfigError, match="positive integer"):
        RandomCrop(bad)


def test_a_window_larger_than_the_image_names_both_sizes() -> None:
    with pytest.raises(ConfigError, match=r"size=50 .* 48x48"):
        RandomCrop(50)(torch.rand(2, 1, 48, 48))


@pytest.mark.parametrize("preset", sorted(glob.glob("src/fer_lightning/conf/augment/*.yaml")))
def test_every_preset_has_the_switch_off_and_can_turn_it_on(preset) -> None:
    cfg = OmegaConf.load(preset)
    assert cfg.crop_size is None
    assert not any(isinstance(op, RandomCrop) for op in instantiate(cfg).ops)
    cfg.crop_size = 40
    cfg.erasing_p = 1.0
    aug = instantiate(cfg)
    # after the preset's ops, before erasing (which then erases inside the crop)
    assert isinstance(aug.ops[-2], RandomCrop) and aug.ops[-2].size == 40
    assert aug(torch.rand(4, 1, 48, 48), generator=gen(5)).shape == (4, 1, 40, 40)


def test_a_bad_crop_size_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"augment\.crop_size"):
        Augment(ops=[], crop_size=0)


def test_training_sees_random_crops_and_evaluation_the_centre_crop(train_cfg, monkeypatch) -> None:
    from fer_lightning import build

    cfg = train_cfg("model=fast_resnet", "augment.crop_size=40", "debug=fdr")
    seen: dict[bool, set] = {True: set(), False: set()}  # what reaches the network, by its training flag
    real_build_net = build.build_net

    def spying_build_net(c):
        net = real_build_net(c)
        net.register_forward_pre_hook(lambda m, args: seen[m.training].add(tuple(args[0].shape)))
        return net

    monkeypatch.setattr(build, "build_net", spying_build_net)
    metrics, objects = train(cfg)
    assert seen[True] == {(64, 1, 40, 40)}
    # the data gives 48x48 faces to validation and test; the network's eval-mode crop cuts them to 40x40
    assert {shape[-2:] for shape in seen[False]} == {(40, 40)}
    assert objects["trainer"].global_step == 1 and "test/acc" in metrics


def test_the_network_and_its_checkpoint_score_the_centre_window(train_cfg) -> None:
    from fer_lightning.build import build_net, load_classifier

    cfg = train_cfg("model=fast_resnet", "augment.crop_size=40", "trainer.max_epochs=1")
    net = build_net(cfg).eval()
    x = torch.rand(3, 1, 48, 48, generator=gen(6))
    with torch.no_grad():
        assert torch.equal(net(x), net(x[..., 4:44, 4:44].contiguous()))
        assert not torch.equal(net(x), net(x[..., :40, :40].contiguous()))
    _, objects = train(cfg)
    module, _ = load_classifier(objects["trainer"].checkpoint_callback.best_model_path)
    with torch.no_grad():
        assert torch.equal(module.net(x), module.net(x[..., 4:44, 4:44].contiguous()))
    # without crops the network sees what it is given
    plain = build_net(train_cfg("model=fast_resnet")).eval()
    with torch.no_grad():
        assert not torch.equal(plain(x), plain(x[..., 4:44, 4:44].contiguous()))


def test_a_randomcrop_listed_in_the_ops_counts_too(train_cfg) -> None:
    from fer_lightning.build import training_crop_size

    cfg = train_cfg(
        "model=fast_resnet", "augment.ops=[{_target_:fer_lightning.augment.ops.RandomCrop,size:36}]"
    )
    assert training_crop_size(cfg) == 36
    assert training_crop_size(train_cfg("augment.crop_size=44")) == 44
    assert training_crop_size(train_cfg()) is None


def test_a_network_that_cannot_take_the_crop_fails_before_training(train_cfg) -> None:
    cfg = train_cfg("model=paper/dinh_gray", "augment.crop_size=40", "debug=fdr")
    with pytest.raises(ConfigError, match=r"augment\.crop_size=40: model=.*dinh_gray.* global pooling"):
        train(cfg)


def test_a_crop_larger_than_the_images_fails_before_training(train_cfg) -> None:
    cfg = train_cfg("model=fast_resnet", "augment.crop_size=56", "debug=fdr")
    with pytest.raises(ConfigError, match=r"augment\.crop_size=56 is larger than data\.image_size=48"):
        train(cfg)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exports_keep_the_centre_crop(train_cfg, tmp_path, fmt) -> None:
    from fer_lightning.build import build_net
    from fer_lightning.inference.model_export import export_onnx, export_torchscript, run_exported

    net = build_net(train_cfg("model=fast_resnet", "augment.crop_size=40")).eval()
    x = torch.rand(2, 1, 48, 48, generator=gen(11))
    export = export_onnx if fmt == "onnx" else export_torchscript
    path = export(net, tmp_path / f"net.{fmt}", x)
    with torch.no_grad():
        expected = net(x[..., 4:44, 4:44].contiguous())
    torch.testing.assert_close(run_exported(path, fmt, x), expected, atol=1e-4, rtol=1e-4)
