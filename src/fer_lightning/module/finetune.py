"""Fine-tuning a pretrained backbone: a lower learning rate for the backbone than for the head, and a frozen
backbone for the first epochs (`module.backbone_lr_scale`, `module.freeze_backbone_epochs`).

The head is the network's classifier: timm's `get_classifier()`, else the last `nn.Linear`; the backbone is every
other parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

from fer_lightning.errors import ConfigError
from fer_lightning.module.weight_decay import split_norm_and_bias


def head_module(net: nn.Module, key: str) -> nn.Module:
    """The classifier of `net` (timm's `get_classifier()`, else its last Linear layer); `key` names the option."""
    get_classifier = getattr(net, "get_classifier", None)
    head = get_classifier() if callable(get_classifier) else None
    if isinstance(head, nn.Module) and any(True for _ in head.parameters()):
        return head
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(
            f"{key} needs a network with a classifier head (a Linear layer or timm's get_classifier()); "
            f"{type(net).__name__} has none"
        )
    return linears[-1]


def backbone_parameters(net: nn.Module, key: str) -> Iterator[nn.Parameter]:
    """Every parameter of `net` outside its head."""
    head = {id(p) for p in head_module(net, key).parameters()}
    return (p for p in net.parameters() if id(p) not in head)


class BackboneFinetuning:
    """Holds the two fine-tuning options; both default to plain training (one learning rate, nothing frozen)."""

    def __init__(self, backbone_lr_scale: float = 1.0, freeze_backbone_epochs: int = 0) -> None:
        if not float(backbone_lr_scale) >= 0.0:
            raise ConfigError(
                f"module.backbone_lr_scale={backbone_lr_scale} must be >= 0 (the backbone's learning rate as a "
                "fraction of optimizer.lr; 1 trains everything alike, 0.1 is usual for pretrained backbones)"
            )
        if int(freeze_backbone_epochs) != freeze_backbone_epochs or freeze_backbone_epochs < 0:
            raise ConfigError(
                f"module.freeze_backbone_epochs={freeze_backbone_epochs} must be a whole number >= 0 "
                "(epochs that train only the head)"
            )
        self.lr_scale = float(backbone_lr_scale)
        self.freeze_epochs = int(freeze_backbone_epochs)

    def make_optimizer(
        self, factory: Callable[..., torch.optim.Optimizer], net: nn.Module, decay_norm_and_bias: bool = True
    ) -> torch.optim.Optimizer:
        """The optimizer over `net`: one group, or a `head` group at optimizer.lr and a `backbone` group scaled;
        with `decay_norm_and_bias=False` each group's biases and norm parameters split off without weight decay."""
        if self.lr_scale == 1.0:
            groups = [{"params": list(net.parameters())}]
        else:
            head = list(head_module(net, "module.backbone_lr_scale").parameters())
            backbone = list(backbone_parameters(net, "module.backbone_lr_scale"))
            groups = [{"params": head, "name": "head"}, {"params": backbone, "name": "backbone"}]
        if not decay_norm_and_bias:
            groups = split_norm_and_bias(groups)
        optimizer = factory(params=groups)
        # scaled after construction so it applies whatever the optimizer's lr argument is called or defaults to
        for group in optimizer.param_groups:
            if group.get("name", "").startswith("backbone"):  # `backbone` and its `backbone_no_decay` half
                group["lr"] *= self.lr_scale
        return optimizer

    def freeze_for_epoch(self, net: nn.Module, epoch: int) -> None:
        """Freeze the backbone's weights before epoch `freeze_epochs`, train them from then on.

        Frozen weights get no gradient, so the optimizer leaves them (and their momentum) untouched; batch-norm
        running statistics in the backbone still follow the data.
        """
        if self.freeze_epochs == 0:
            return
        trainable = epoch >= self.freeze_epochs
        for p in backbone_parameters(net, "module.freeze_backbone_epochs"):
            p.requires_grad_(trainable)
