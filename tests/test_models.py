"""The model zoo: replica parameter counts, shapes, the dropout knob, config validation, configs, the CLI."""

from __future__ import annotations

import json
import urllib.error

import pytest
import torch
import yaml
from conftest import REPO, run_cli
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from torch import nn

from fer_lightning.errors import ConfigError, FERError, PretrainedWeightsError
from fer_lightning.models import create_model, get_model_info, list_models
from fer_lightning.models.layers import dropout_layers
from fer_lightning.models.sequential import DEFAULT_BLOCK, DEFAULT_BLOCKS, DEFAULT_FC
from fer_lightning.models.summary import count_macs, count_params, print_models

CONF = REPO / "src" / "fer_lightning" / "conf"
MODEL_CONFIGS = sorted((CONF / "model").rglob("*.yaml"))

# Trainable parameters as published in the seed reports (/work/shared/seeds).
REPLICA_PARAMS = {
    "paper/athanasopoulos_model7v3": 6_783_559,
    "paper/dibenedetto_model1": 700_439,
    "paper/dibenedetto_model2": 1_714_183,
    "paper/dinh_gray": 981_191,
    "paper/kahar": 423_751,
    "paper/seed003_newbase": 2_423_560,
}


def on_meta(name: str, **kwargs) -> nn.Module:
    """Build a model on the meta device: structure and parameter shapes without allocating or initialising."""
    with torch.device("meta"):
        return create_model(name, **kwargs)


def batch(name: str, n: int = 2) -> torch.Tensor:
    """A random batch at the model's default input shape."""
    return torch.rand(n, *get_model_info(name).input_shape)


def layer_types(block: nn.Module) -> list[type]:
    """The types of a block's direct children, in order."""
    return [type(m) for m in block.children()]


# --- replicas ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "params"), sorted(REPLICA_PARAMS.items()))
def test_replica_has_the_published_parameter_count(name, params):
    info = get_model_info(name)
    assert info.fixed_input and info.source.startswith("seed 00")
    assert count_params(on_meta(name)) == params


def test_replica_rejects_other_input_shapes_naming_model_and_shapes():
    with pytest.raises(ConfigError) as err:
        create_model("paper/dinh_gray", in_channels=3, image_size=100)
    message = str(err.value)
    assert "paper/dinh_gray" in message and "1x48x48" in message and "3x100x100" in message


def test_replicas_follow_the_reports_layer_order():
    athanasopoulos = on_meta("paper/athanasopoulos_model7v3")
    assert layer_types(athanasopoulos.features[1]) == [nn.Conv2d, nn.LeakyReLU, nn.BatchNorm2d, nn.MaxPool2d]
    assert athanasopoulos.features[1].act.negative_slope == 0.01
    assert layer_types(athanasopoulos.classifier[0]) == [nn.Linear, nn.ReLU, nn.BatchNorm1d, nn.Dropout]
    dinh = on_meta("paper/dinh_gray")
    assert [b.drop.p for b in dinh.features] == [0.5, 0.3, 0.5, 0.3]
    assert layer_types(dinh.features[0]) == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.Dropout]
    seed003 = on_meta("paper/seed003_newbase")
    assert seed003.features[1].pool.kernel_size == 3 and seed003.classifier.in_features == 84_672


# --- the dropout knob -------------------------------------------------------------------------------------------


# timm maps model.dropout to its own drop_rate before the classifier (tests/test_timm_backbone.py)
@pytest.mark.parametrize("name", [n for n in list_models() if n not in ("paper/kahar", "timm")])
def test_dropout_knob_replaces_every_dropout_rate(name):
    own = [layer.p for layer in dropout_layers(on_meta(name))]
    assert own, f"{name} has no dropout layer for model.dropout to reach"
    assert [layer.p for layer in dropout_layers(on_meta(name, dropout=0.37))] == [0.37] * len(own)


def test_dropout_knob_on_a_network_without_dropout():
    assert not dropout_layers(on_meta("paper/kahar", dropout=0.0))
    with pytest.raises(ConfigError, match=r"model\.dropout=0\.3.*paper/kahar has no dropout layers"):
        on_meta("paper/kahar", dropout=0.3)


# --- sequential -------------------------------------------------------------------------------------------------


def test_sequential_defaults_match_its_config_file():
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / "model" / "sequential.yaml"))
    assert cfg["block_defaults"] == DEFAULT_BLOCK
    assert cfg["blocks"] == list(DEFAULT_BLOCKS)
    assert cfg["fc"] == list(DEFAULT_FC)


@pytest.mark.parametrize(
    ("norm", "expected"),
    [
        ("before", [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.Dropout]),
        ("after", [nn.Conv2d, nn.ReLU, nn.BatchNorm2d, nn.MaxPool2d, nn.Dropout]),
        ("none", [nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Dropout]),
    ],
)
def test_sequential_norm_position(norm, expected):
    model = on_meta("sequential", blocks=[{"channels": 8, "norm": norm}])
    assert layer_types(model.features[0]) == expected


def test_sequential_block_options_build_the_expected_layers():
    blocks = [
        {"channels": 8, "activation": "leaky_relu", "negative_slope": 0.2, "pool": "avg"},
        {"channels": 16, "groups": 4, "dilation": 2, "pool": "none", "dropout": None},
        {"channels": 16, "activation": "elu", "pool": False, "kernel_size": 5, "padding": 0},
    ]
    model = create_model("sequential", blocks=blocks, fc=[{"features": 32, "norm": "before"}])
    first, second, third = model.features
    assert isinstance(first.act, nn.LeakyReLU) and first.act.negative_slope == 0.2
    assert isinstance(first.pool, nn.AvgPool2d)
    assert second.conv.groups == 4 and second.conv.dilation == (2, 2)
    assert not hasattr(second, "pool") and not hasattr(second, "drop")
    assert isinstance(third.act, nn.ELU) and not hasattr(third, "pool")
    assert layer_types(model.classifier[0]) == [nn.Linear, nn.BatchNorm1d, nn.ReLU]
    # 48 -> 24 (avg-pool), 'same' dilated conv keeps 24, the unpadded 5x5 gives 20
    assert model.classifier[0].linear.in_features == 16 * 20 * 20
    assert model(torch.rand(2, 1, 48, 48)).shape == (2, 7)


def test_sequential_block_defaults_apply_to_every_block_unless_overridden():
    model = on_meta(
        "sequential",
        block_defaults={"activation": "elu", "pool": "none"},
        blocks=[{"channels": 8}, {"channels": 8, "activation": "relu"}],
    )
    assert [type(b.act) for b in model.features] == [nn.ELU, nn.ReLU]
    assert model.classifier[0].linear.in_features == 8 * 48 * 48


def test_sequential_adapts_to_channels_and_image_size():
    model = create_model("sequential", in_channels=3, image_size=64, num_classes=8)
    assert model.classifier[0].linear.in_features == 256 * 4 * 4
    assert model.eval()(torch.rand(1, 3, 64, 64)).shape == (1, 8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"blocks": [{"channels": 8}, {"channels": 8}, {"channels": 8, "activaton": "elu"}]},
            r"model\.blocks\[2\]\.activaton is not a known key; allowed: channels, kernel_size",
        ),
        (
            {"blocks": [{"channels": 8}, {"channels": 8}, {"channels": 8, "activation": "gelu"}]},
            r"model\.blocks\[2\]\.activation='gelu' is not supported; allowed values: relu, leaky_relu, elu",
        ),
        (
            {"blocks": [{"channels": 8, "norm": "middle"}]},
            r"model\.blocks\[0\]\.norm='middle'.*allowed values: before, after, none",
        ),
        (
            {"blocks": [{"channels": 8, "pool": "min"}]},
            r"model\.blocks\[0\]\.pool='min'.*allowed values: max, avg, none",
        ),
        ({"blocks": [{"kernel_size": 3}]}, r"model\.blocks\[0\]\.channels is required"),
        ({"blocks": [{"channels": 0}]}, r"model\.blocks\[0\]\.channels=0 must be a positive integer"),
        ({"blocks": [{"channels": 8, "groups": 3}]}, r"model\.blocks\[0\]\.groups=3 must divide"),
        ({"blocks": [{"channels": 8, "dropout": 1.5}]}, r"model\.blocks\[0\]\.dropout=1\.5"),
        ({"blocks": [{"channels": 8, "padding": "full"}]}, r"model\.blocks\[0\]\.padding='full'"),
        (
            {"blocks": [{"channels": 8, "negative_slope": "0.1"}]},
            r"model\.blocks\[0\]\.negative_slope='0\.1' must be a number",
        ),
        ({"blocks": {"channels": 8}}, r"model\.blocks must be a list"),
        ({"block_defaults": {"activation": "tanh"}}, r"model\.block_defaults\.activation='tanh'"),
        (
            {"fc": [{"features": 8, "pool": "max"}]},
            r"model\.fc\[0\]\.pool is not a known key; allowed: features, norm",
        ),
        (
            {"blocks": [{"channels": 8, "padding": 0, "kernel_size": 5}] * 4},
            r"model=sequential: image_size=48 is too small",
        ),
    ],
)
def test_sequential_config_errors_name_the_key(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        create_model("sequential", **kwargs)


@settings(max_examples=10, deadline=None)
@given(
    channels=st.lists(st.sampled_from([4, 8]), min_size=0, max_size=3),
    norm=st.sampled_from(["before", "after", "none"]),
    activation=st.sampled_from(["relu", "leaky_relu", "elu"]),
    pool=st.sampled_from(["max", "avg", "none"]),
    image_size=st.integers(min_value=8, max_value=24),
    in_channels=st.sampled_from([1, 3]),
)
def test_sequential_any_valid_config_gives_logits(channels, norm, activation, pool, image_size, in_channels):
    blocks = [{"channels": c} for c in channels]
    defaults = {"norm": norm, "activation": activation, "pool": pool}
    model = create_model(
        "sequential", in_channels=in_channels, image_size=image_size, blocks=blocks, block_defaults=defaults
    )
    assert model(torch.rand(2, in_channels, image_size, image_size)).shape == (2, 7)


# --- inception, vgg_fer, resnet18 -------------------------------------------------------------------------------


def test_inception_options_and_errors():
    small, wide = on_meta("inception", depth=2, width=8), on_meta("inception", depth=2, width=16)
    assert count_params(small) < count_params(wide)
    assert create_model("inception", depth=2, width=8, stem_channels=8)(torch.rand(2, 1, 48, 48)).shape == (
        2,
        7,
    )
    with pytest.raises(ConfigError, match=r"model\.depth=6.*data\.image_size >= 64, got 48"):
        create_model("inception", depth=6)
    with pytest.raises(ConfigError, match=r"model\.activation='swish'"):
        create_model("inception", activation="swish")


def test_vgg_fer_adapts_to_the_image_size():
    model = on_meta("vgg_fer", image_size=64, in_channels=3, fc_features=[256])
    assert model.classifier[0].linear.in_features == 512 * 4 * 4
    with pytest.raises(ConfigError, match="vgg_fer: image_size=8 is too small"):
        create_model("vgg_fer", image_size=8)


def test_resnet18_stem_follows_the_image_size():
    small = on_meta("resnet18", image_size=48)
    assert (
        small.conv1.kernel_size == (3, 3)
        and small.conv1.stride == (1, 1)
        and isinstance(small.maxpool, nn.Identity)
    )
    large = on_meta("resnet18", image_size=224, in_channels=3)
    assert large.conv1.kernel_size == (7, 7) and isinstance(large.maxpool, nn.MaxPool2d)
    with pytest.raises(ConfigError, match=r"model\.stem='tiny'"):
        on_meta("resnet18", stem="tiny")


def test_fast_resnet_stem_is_optional():
    # stem_channels=None: the first stage's conv reads the image, so one 3x3 conv runs at full resolution, not two
    with_stem = on_meta("fast_resnet", stem_channels=32, channels=[32, 64, 128], blocks=[1, 2, 2])
    without = on_meta("fast_resnet", stem_channels=None, channels=[32, 64, 128], blocks=[1, 2, 2])
    first = without.features[0][0]
    assert isinstance(first, nn.Conv2d) and (first.in_channels, first.out_channels) == (1, 32)
    # the prep conv's 3x3 1->32 weights + its BN, and the first stage conv reading 32 instead of 1 channel
    assert count_params(with_stem) - count_params(without) == (9 * 32 + 2 * 32) + 9 * 32 * 32 - 9 * 32
    assert count_macs(without, (1, 48, 48)) < count_macs(with_stem, (1, 48, 48))
    net = create_model("fast_resnet", stem_channels=None, channels=[8, 16], blocks=[1, 0], image_size=16)
    assert net(torch.rand(2, 1, 16, 16)).shape == (2, 7)


def test_fast_resnet_pool_first_is_the_same_network_with_norm_after_the_pool():
    kw = {"channels": [8, 16], "blocks": [1, 1], "stem_channels": 8, "image_size": 16}
    torch.manual_seed(0)
    plain, pooled = create_model("fast_resnet", **kw), create_model("fast_resnet", pool_first=True, **kw)
    assert count_params(pooled) == count_params(plain)
    assert count_macs(pooled, (1, 16, 16)) == count_macs(plain, (1, 16, 16))
    stage = pooled.features[1]
    assert [type(m) for m in stage] == [nn.Conv2d, nn.MaxPool2d, nn.BatchNorm2d, nn.ReLU]
    # In eval mode a batch norm with positive scale is an increasing map per channel, as ReLU is, and max-pooling
    # commutes with both: given the same weights, the two orders compute the same function.
    for m in plain.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 2.0)
            nn.init.normal_(m.bias)
            nn.init.normal_(m.running_mean)
            m.running_var.uniform_(0.5, 2.0)
    pooled.load_state_dict(dict(zip(pooled.state_dict(), plain.state_dict().values(), strict=True)))
    x = torch.rand(4, 1, 16, 16)
    plain.eval()
    pooled.eval()
    torch.testing.assert_close(pooled(x), plain(x))
    with pytest.raises(ConfigError, match=r"model\.pool_first='yes' must be true or false"):
        create_model("fast_resnet", pool_first="yes")


def test_fast_resnet_input_norm_makes_the_network_blind_to_brightness_and_contrast():
    kw = {"channels": [8, 16], "blocks": [1, 1], "stem_channels": None, "image_size": 16}
    torch.manual_seed(0)
    plain, normed = create_model("fast_resnet", **kw), create_model("fast_resnet", input_norm=True, **kw)
    normed.load_state_dict(plain.state_dict())  # no weights of its own: the same state_dict loads either way
    plain.eval()
    normed.eval()
    x = torch.rand(3, 1, 16, 16)
    brighter = 0.5 * x + 0.3  # less contrast, more light
    torch.testing.assert_close(normed(brighter), normed(x), atol=1e-3, rtol=1e-3)
    assert not torch.allclose(plain(brighter), plain(x), atol=1e-3)
    # and each image is standardised by its own statistics, not by the batch's, also in training mode
    normed.train()
    torch.testing.assert_close(normed.input_norm(x[:1]), normed.input_norm(x)[:1])
    torch.testing.assert_close(normed.input_norm(x).mean(dim=(2, 3)), torch.zeros(3, 1), atol=1e-5, rtol=0)
    with pytest.raises(ConfigError, match=r"model\.input_norm='yes' must be true or false"):
        create_model("fast_resnet", input_norm="yes")


def test_fast_resnet_space_to_depth_reads_2x2_blocks_at_half_resolution():
    kw = {"channels": [8, 16], "blocks": [1, 1], "stem_channels": None, "image_size": 16, "pool_first": True}
    plain, folded = create_model("fast_resnet", **kw), create_model("fast_resnet", space_to_depth=True, **kw)
    x = torch.rand(2, 1, 16, 16)
    assert folded(x).shape == plain(x).shape == (2, 7)
    # the first conv reads 4 channels (one per pixel of a 2x2 block) and the first stage has no max-pool left
    first_conv = next(m for m in folded.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 4
    pools = [m for m in folded.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == len([m for m in plain.modules() if isinstance(m, nn.MaxPool2d)]) - 1
    # and the first conv works at half resolution with a 6x6-pixel window: a change to pixel (r, c) reaches
    # exactly the 3x3 outputs around block (r // 2, c // 2) (the conv alone: a ReLU could hide a change)
    first_layer = nn.Sequential(folded.features[0], first_conv)
    base = first_layer(x)
    assert base.shape == (2, 8, 8, 8)
    r, c = 9, 4
    poked = x.clone()
    poked[:, :, r, c] += 1.0
    changed = (first_layer(poked) - base).abs().amax(dim=(0, 1)) > 0
    expected = torch.zeros(8, 8, dtype=torch.bool)
    expected[r // 2 - 1 : r // 2 + 2, c // 2 - 1 : c // 2 + 2] = True
    assert torch.equal(changed, expected)
    with pytest.raises(ConfigError, match=r"needs an even data\.image_size, got 15"):
        create_model("fast_resnet", space_to_depth=True, channels=[8], blocks=[1], image_size=15)
    with pytest.raises(ConfigError, match=r"model\.space_to_depth='yes' must be true or false"):
        create_model("fast_resnet", space_to_depth="yes")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_fast_resnet_space_to_depth_exports_with_the_same_logits(tmp_path, fmt):
    from fer_lightning.inference.faces import ModelInput
    from fer_lightning.inference.model_export import export_model

    torch.manual_seed(0)
    net = create_model(
        "fast_resnet", channels=[8, 16], blocks=[1, 1], image_size=16, space_to_depth=True
    ).eval()
    # the export command's own path: traced on 2 faces, checked on 8 (raises ParityError past atol)
    record = export_model(net, ModelInput(1, 16, (0.5,), (0.5,)), fmt, tmp_path)
    assert record["ok"] and record["max_abs_diff"] <= 1e-4
    assert record["batch_size"] == 8


def test_fast_resnet_head_grid_keeps_where_on_the_face_a_feature_fires():
    kw = {"channels": [8, 16], "blocks": [1, 0], "stem_channels": None, "image_size": 16, "num_classes": 3}
    glob, grid = create_model("fast_resnet", **kw), create_model("fast_resnet", head_grid=2, **kw)
    # the linear layer reads each of the 2x2 cells: 4x the inputs, all else the same
    assert grid.classifier.in_features == 4 * glob.classifier.in_features == 4 * 16
    assert count_params(grid) - count_params(glob) == 3 * 3 * 16
    grid.eval()
    feats = torch.zeros(1, 16, 4, 4)
    feats[:, :, :2, :2] = 1.0  # a feature map lit in the top-left cell only
    moved = feats.roll(shifts=(2, 2), dims=(2, 3))  # the same activity, bottom-right
    grid.features = nn.Identity()
    glob.features = nn.Identity()
    glob.eval()
    # global pooling cannot tell the two apart; the grid head can
    torch.testing.assert_close(glob(feats), glob(moved))
    assert not torch.allclose(grid(feats), grid(moved))
    # and a grid head whose cells share one weight is global pooling again
    with torch.no_grad():
        grid.classifier.weight.copy_(glob.classifier.weight.repeat_interleave(4, dim=1) / 4)
        grid.classifier.bias.copy_(glob.classifier.bias)
    torch.testing.assert_close(grid(feats), glob(feats))
    net = create_model("fast_resnet", head_grid=3, stem_channels=None, pool_first=True)
    assert net(torch.rand(2, 1, 48, 48)).shape == (2, 7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": [32, 64], "blocks": [1]}, r"model\.channels=\[32, 64\] and model\.blocks=\[1\]"),
        ({"stem_channels": 0}, r"model\.stem_channels=0 must be a positive integer, or null"),
        ({"blocks": [1, -1, 1]}, r"model\.blocks=.*non-negative"),
        ({"image_size": 4}, r"data\.image_size=4 is too small for 3 pooling stages"),
        ({"head_grid": 0}, r"model\.head_grid=0 must be a positive integer \(1: global average pooling\)"),
        ({"head_grid": 7}, r"model\.head_grid=7 is finer than the last feature map: .* is 6 pixels wide"),
    ],
)
def test_fast_resnet_rejects_bad_shapes(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        create_model("fast_resnet", **kwargs)


def test_resnet18_pretrained_offline_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    # torch.hub downloads through this name; failing it keeps the test off the network
    monkeypatch.setattr(torch.hub, "urlopen", offline)
    with pytest.raises(PretrainedWeightsError) as err:
        create_model("resnet18", pretrained=True)
    message = str(err.value)
    assert isinstance(err.value, FERError)
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert (
        "TORCH_HOME" in message
        and "model.pretrained=false" in message
        and "network is unreachable" in message
    )


def test_resnet18_pretrained_from_the_hub_cache_averages_rgb_for_grey(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "urlopen", lambda *a, **k: pytest.fail("the cached file should be used"))
    weights = torchvision.models.resnet18().state_dict()
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(weights, cache / "resnet18-f37072fd.pth")

    grey = create_model("resnet18", pretrained=True, in_channels=1, image_size=224, stem="imagenet")
    assert torch.equal(grey.conv1.weight, weights["conv1.weight"].mean(dim=1, keepdim=True))
    assert torch.equal(grey.layer4[1].conv2.weight, weights["layer4.1.conv2.weight"])
    small = create_model("resnet18", pretrained=True, in_channels=1, image_size=48)
    assert small.conv1.weight.shape == (64, 1, 3, 3)
    assert torch.equal(small.layer1[0].conv1.weight, weights["layer1.0.conv1.weight"])


# --- configs ----------------------------------------------------------------------------------------------------


def fake_data(name: str) -> dict:
    """A stand-in for the data config group, matching the model's default input."""
    info = get_model_info(name)
    channels, size, _ = info.input_shape
    return {"channels": channels, "num_classes": info.num_classes, "image_size": size}


def registered_name(model_cfg) -> str:
    """The registry entry a model config builds: its family (model=timm) or its name."""
    return model_cfg.get("family") or model_cfg["name"]


def test_there_is_a_config_for_every_registered_model():
    names = {registered_name(yaml.safe_load(path.read_text())) for path in MODEL_CONFIGS}
    assert names == set(list_models())
    for path in MODEL_CONFIGS:
        assert path.relative_to(CONF / "model").with_suffix("").as_posix() == registered_name(
            yaml.safe_load(path.read_text())
        )


@pytest.mark.parametrize("path", MODEL_CONFIGS, ids=lambda p: p.relative_to(CONF / "model").as_posix())
def test_model_config_maps_the_default_input_to_logits_and_trains(path):
    """One config per registered model (checked above), so this covers every model at its default input."""
    model_cfg = OmegaConf.load(path)
    name = registered_name(model_cfg)
    cfg = OmegaConf.merge({"model": model_cfg, "data": fake_data(name)})
    model = instantiate(cfg.model)
    logits = model(batch(name))
    assert logits.shape == (2, get_model_info(name).num_classes)
    # logits, not probabilities: a softmax output would sum to one on every row
    assert not torch.allclose(logits.sum(dim=1), torch.ones(2))
    nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_configurable_models_instantiate_on_fer_shaped_data():
    for name in ("sequential", "inception", "vgg_fer", "resnet18"):
        model_cfg = OmegaConf.load(CONF / "model" / f"{name}.yaml")
        cfg = OmegaConf.merge(
            {"model": model_cfg, "data": {"channels": 3, "num_classes": 8, "image_size": 40}}
        )
        model = instantiate(cfg.model, _convert_="partial").eval()
        with torch.no_grad():
            assert model(torch.rand(1, 3, 40, 40)).shape == (1, 8), name


def test_paper_configs_land_in_the_model_package():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="models", overrides=["+model=paper/dinh_gray", "format=json"])
    GlobalHydra.instance().clear()
    assert cfg.model.name == "paper/dinh_gray" and cfg.format == "json"


# --- summary and CLI --------------------------------------------------------------------------------------------


def test_count_macs_matches_a_hand_count():
    # kahar: three unpadded 5x5 convs at 44, 18 and 5 pixels, then 512-256-128-7
    convs = 44 * 44 * 32 * 3 * 25 + 18 * 18 * 64 * 32 * 25 + 5 * 5 * 128 * 64 * 25
    assert count_macs(create_model("paper/kahar"), (3, 48, 48)) == convs + 512 * 256 + 256 * 128 + 128 * 7


def test_print_models_rejects_unknown_formats():
    with pytest.raises(ConfigError, match="format='xml' is not supported; allowed: table, json"):
        print_models("xml")


@pytest.mark.slow
def test_models_cli_json(tmp_path):
    result = run_cli("fer_lightning.models", "format=json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert list(listing) == ["models"]
    assert set(listing["models"]) == set(list_models())
    for name, row in listing["models"].items():
        assert set(row) == {"params", "macs"} and isinstance(row["macs"], int) and row["macs"] > 0
        assert row["params"] == REPLICA_PARAMS.get(name, count_params(on_meta(name)))
    assert not list(tmp_path.iterdir()), "the listing must not write output dirs or logs"
