"""module.decay_norm_and_bias: weight decay on conv/linear weights only, biases and norm parameters exempt."""

from __future__ import annotations

import pytest
import torch

from fer_lightning.errors import ConfigError
from fer_lightning.models.registry import create_model
from fer_lightning.module import FERClassifier
from fer_lightning.module.finetune import BackboneFinetuning


def _net() -> torch.nn.Module:
    return create_model(
        "fast_resnet", in_channels=1, num_classes=7, image_size=48, dropout=0.2, stem_channels=None
    )


def _adamw(params):
    return torch.optim.AdamW(params, lr=0.1, weight_decay=0.5)


def test_default_decays_every_parameter_in_one_group():
    optimizer = FERClassifier(_net(), _adamw).configure_optimizers()
    (group,) = optimizer.param_groups
    assert group["weight_decay"] == 0.5


def test_norm_and_bias_parameters_get_no_decay_and_everything_else_keeps_it():
    net = _net()
    optimizer = FERClassifier(net, _adamw, decay_norm_and_bias=False).configure_optimizers()
    decayed, exempt = optimizer.param_groups
    assert (decayed["weight_decay"], exempt["weight_decay"], exempt["name"]) == (0.5, 0.0, "no_decay")
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    expected_exempt = {id(p) for m in norms for p in (m.weight, m.bias)} | {id(net.classifier.bias)}
    assert {id(p) for p in exempt["params"]} == expected_exempt
    assert all(p.ndim == 4 for p in decayed["params"][:-1]) and decayed["params"][-1] is net.classifier.weight
    assert len(decayed["params"]) + len(exempt["params"]) == len(list(net.parameters()))

    # one step with zero gradients: AdamW's decoupled decay alone moves the parameters
    before = {id(p): p.detach().clone() for p in net.parameters()}
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for p in exempt["params"]:
        assert torch.equal(p, before[id(p)])
    for p in decayed["params"]:
        torch.testing.assert_close(p, before[id(p)] * (1 - 0.1 * 0.5))


def test_exemption_splits_head_and_backbone_groups_and_keeps_the_backbone_scale():
    net = _net()
    optimizer = BackboneFinetuning(backbone_lr_scale=0.1).make_optimizer(
        _adamw, net, decay_norm_and_bias=False
    )
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert set(groups) == {"head", "head_no_decay", "backbone", "backbone_no_decay"}
    assert groups["head"]["params"] == [net.classifier.weight]
    assert groups["head_no_decay"]["params"] == [net.classifier.bias]
    assert groups["backbone"]["lr"] == groups["backbone_no_decay"]["lr"] == pytest.approx(0.01)
    assert groups["head"]["lr"] == groups["head_no_decay"]["lr"] == pytest.approx(0.1)
    assert [g["weight_decay"] for g in groups.values()] == [0.5, 0.0, 0.5, 0.0]


@pytest.mark.parametrize("value", [0, "false", None])
def test_decay_norm_and_bias_must_be_a_bool(value):
    with pytest.raises(ConfigError, match="module.decay_norm_and_bias=.* must be true or false"):
        FERClassifier(_net(), _adamw, decay_norm_and_bias=value)
