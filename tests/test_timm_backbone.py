"""model=timm: any timm model for the data's input, pretrained weights offline and from a file, and the
fine-tuning options (backbone learning-rate scale, frozen backbone epochs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from fer_lightning.build import build_net, instantiate, load_classifier
from fer_lightning.errors import ConfigError, PretrainedWeightsError
from fer_lightning.models import create_model, list_models
from fer_lightning.module.finetune import BackboneFinetuning, backbone_parameters, head_module
from fer_lightning.train import train

timm = pytest.importorskip("timm")


def tiny(name="resnet10t", **kw):
    return create_model(name, family="timm", **{"in_channels": 1, "num_classes": 7, "image_size": 48, **kw})


def test_timm_models_are_built_for_the_data_and_registered():
    net = tiny(dropout=0.3)
    assert net.conv1[0].in_channels == 1 and net.get_classifier().out_features == 7
    assert net.drop_rate == 0.3  # model.dropout is timm's drop rate before the classifier
    assert net(torch.zeros(2, 1, 48, 48)).shape == (2, 7)
    # a ViT is built for the data's size (img_size), which a CNN does not take
    vit = tiny("test_vit", image_size=32, num_classes=8)
    assert vit(torch.zeros(2, 1, 32, 32)).shape == (2, 8)
    assert vit.patch_embed.img_size == (32, 32)
    assert "timm" in list_models()
    with torch.device("meta"):
        assert create_model("timm").get_classifier().out_features == 7  # the listing's default model


def test_model_timm_config_composes_and_names_the_timm_model(train_cfg):
    cfg = train_cfg("model=timm", "model.name=resnet10t", "model.dropout=0.1")
    net = build_net(cfg)
    assert type(net).__name__ == "ResNet" and net.drop_rate == 0.1
    assert net.get_classifier().out_features == cfg.data.num_classes


def test_unknown_timm_name_lists_close_names():
    with pytest.raises(
        ConfigError, match=r"model.name='resnet10tt' is not a timm model; close names: .*resnet10t"
    ):
        tiny("resnet10tt")


def test_pretrained_offline_fails_at_once_naming_the_model_and_pretrained_file(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(
        constants, "HF_HUB_OFFLINE", True
    )  # what HF_HUB_OFFLINE=1 sets; no network is touched
    with pytest.raises(PretrainedWeightsError) as err:
        tiny(pretrained=True)
    message = str(err.value)
    assert "model.name=resnet10t" in message and "model.pretrained_file=<path>" in message
    assert "model.pretrained=false" in message


def test_pretrained_file_loads_local_weights_and_adapts_channels_and_head(tmp_path):
    torch.manual_seed(0)
    source = timm.create_model("resnet10t", num_classes=10)  # RGB, another head
    path = tmp_path / "resnet10t.pth"
    torch.save(source.state_dict(), path)

    net = tiny(pretrained_file=str(path))
    # timm's in_chans handling: one grey filter is the sum of the RGB filters
    torch.testing.assert_close(net.conv1[0].weight, source.conv1[0].weight.sum(dim=1, keepdim=True))
    torch.testing.assert_close(net.layer4[0].conv1.weight, source.layer4[0].conv1.weight)
    assert net.get_classifier().out_features == 7  # a fresh head for the data's classes

    with pytest.raises(ConfigError, match="model.pretrained_file=.*no such file"):
        tiny(pretrained_file=str(tmp_path / "missing.pth"))
    other = tmp_path / "vit.pth"
    torch.save(timm.create_model("test_vit").state_dict(), other)
    with pytest.raises(ConfigError, match="does not hold weights of timm model 'resnet10t'"):
        tiny(pretrained_file=str(other))


def test_backbone_learning_rate_scale_splits_head_and_backbone():
    net = tiny()
    factory = lambda params: torch.optim.AdamW(params, lr=1e-3)  # noqa: E731
    plain = BackboneFinetuning().make_optimizer(factory, net)
    assert len(plain.param_groups) == 1  # the default changes nothing

    optimizer = BackboneFinetuning(backbone_lr_scale=0.1).make_optimizer(factory, net)
    head, backbone = optimizer.param_groups
    assert (head["name"], backbone["name"]) == ("head", "backbone")
    assert head["lr"] == pytest.approx(1e-3) and backbone["lr"] == pytest.approx(1e-4)
    assert {id(p) for p in head["params"]} == {id(p) for p in net.get_classifier().parameters()}
    assert len(head["params"]) + len(backbone["params"]) == len(list(net.parameters()))
    # networks without timm's get_classifier: the last Linear is the head
    seq = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4, 3))
    assert head_module(seq, "k") is seq[2]
    with pytest.raises(ConfigError, match="module.backbone_lr_scale needs a network with a classifier head"):
        BackboneFinetuning(backbone_lr_scale=0.5).make_optimizer(factory, nn.Sequential(nn.Conv2d(1, 4, 3)))


@pytest.mark.parametrize(
    "options, key",
    [
        ({"backbone_lr_scale": -0.1}, "module.backbone_lr_scale"),
        ({"freeze_backbone_epochs": 1.5}, "module.freeze"),
    ],
)
def test_bad_finetuning_options_name_their_key(options, key):
    with pytest.raises(ConfigError, match=key):
        BackboneFinetuning(**options)


def test_frozen_backbone_epochs_train_only_the_head_and_the_checkpoint_needs_no_weights_file(
    train_cfg, tmp_path
):
    weights = tmp_path / "resnet10t.pth"
    torch.save(timm.create_model("resnet10t").state_dict(), weights)
    cfg = train_cfg(
        "model=timm",
        "model.name=resnet10t",
        f"model.pretrained_file={weights}",
        "data.n_train=128",
        "data.n_val=64",
        "data.n_test=64",
        "module.freeze_backbone_epochs=1",
        "module.backbone_lr_scale=0.5",
        "test=false",
    )
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    initial = instantiate(
        cfg.model, _convert_="partial"
    )  # train() seeds the same way before building its net
    _, objects = train(cfg)
    net = objects["module"].net
    for before, after in zip(backbone_parameters(initial, "k"), backbone_parameters(net, "k"), strict=True):
        torch.testing.assert_close(after, before)
    assert not torch.equal(net.get_classifier().weight, initial.get_classifier().weight)

    # predict / eval / demo rebuild the network from the checkpoint alone
    weights.unlink()
    module, _ = load_classifier(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    torch.testing.assert_close(module.net.get_classifier().weight, net.get_classifier().weight)
