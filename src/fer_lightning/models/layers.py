"""Building blocks shared by the configurable networks and the paper replicas.

Every network in the zoo is assembled from these few pieces, so a conv block means the same thing (conv, then batch
norm before or after the activation, then pooling, then dropout) in `sequential`, `vgg_fer` and every replica.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from fer_lightning.config_checks import check_choice
from fer_lightning.errors import ConfigError

ACTIVATIONS = ("relu", "leaky_relu", "elu")
NORM_POSITIONS = ("before", "after", "none")  # where batch norm sits relative to the activation
POOL_KINDS = ("max", "avg", "none")


def make_activation(
    name: str = "relu", negative_slope: float = 0.01, *, key: str = "activation"
) -> nn.Module:
    """Build an activation by name: relu, leaky_relu (with `negative_slope`) or elu."""
    name = check_choice(name, ACTIVATIONS, key)
    if name == "leaky_relu":
        return nn.LeakyReLU(float(negative_slope))
    if name == "elu":
        return nn.ELU()
    return nn.ReLU()


def _ordered(norm: str, bn: nn.Module, act: nn.Module) -> list[tuple[str, nn.Module]]:
    """Place batch norm before or after the activation, or drop it."""
    if norm == "before":
        return [("norm", bn), ("act", act)]
    if norm == "after":
        return [("act", act), ("norm", bn)]
    return [("act", act)]


def conv_block(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    *,
    padding: int | str = 0,
    groups: int = 1,
    dilation: int = 1,
    norm: str = "none",
    activation: str = "relu",
    negative_slope: float = 0.01,
    pool: str = "none",
    pool_size: int = 2,
    dropout: float | None = None,
    key: str = "block",
) -> nn.Sequential:
    """Conv2d (with bias) -> batch norm before/after the activation -> optional pool -> optional Dropout.

    `key` is the config path used in error messages (e.g. ``model.blocks[2]``). `dropout=None` adds no Dropout layer;
    a float (0.0 included) adds one, so the `dropout` knob of `set_dropout` can reach it.
    """
    norm = check_choice(norm, NORM_POSITIONS, f"{key}.norm")
    pool = check_choice(pool, POOL_KINDS, f"{key}.pool")
    if not (isinstance(padding, int) and padding >= 0) and padding not in ("same", "valid"):
        raise ConfigError(
            f"{key}.padding={padding!r} is not supported; use an integer >= 0, 'same' or 'valid'"
        )
    if in_channels % groups or out_channels % groups:
        raise ConfigError(
            f"{key}.groups={groups} must divide both the block's input channels ({in_channels}) "
            f"and its output channels ({out_channels})"
        )
    layers: list[tuple[str, nn.Module]] = [
        (
            "conv",
            nn.Conv2d(
                in_channels, out_channels, kernel_size, padding=padding, groups=groups, dilation=dilation
            ),
        )
    ]
    act = make_activation(activation, negative_slope, key=f"{key}.activation")
    layers += _ordered(norm, nn.BatchNorm2d(out_channels), act)
    if pool != "none":
        layers.append(("pool", nn.MaxPool2d(pool_size) if pool == "max" else nn.AvgPool2d(pool_size)))
    if dropout is not None:
        layers.append(("drop", nn.Dropout(float(dropout))))
    return nn.Sequential(OrderedDict(layers))


def linear_block(
    in_features: int,
    out_features: int,
    *,
    norm: str = "none",
    activation: str = "relu",
    negative_slope: float = 0.01,
    dropout: float | None = None,
    key: str = "fc",
) -> nn.Sequential:
    """Linear -> batch norm before/after the activation -> optional Dropout (a hidden fully connected layer)."""
    norm = check_choice(norm, NORM_POSITIONS, f"{key}.norm")
    act = make_activation(activation, negative_slope, key=f"{key}.activation")
    layers = [
        ("linear", nn.Linear(in_features, out_features)),
        *_ordered(norm, nn.BatchNorm1d(out_features), act),
    ]
    if dropout is not None:
        layers.append(("drop", nn.Dropout(float(dropout))))
    return nn.Sequential(OrderedDict(layers))


class InceptionModule(nn.Module):
    """Simplified GoogLeNet module: parallel 1x1, 1x1->3x3, 1x1->5x5 and maxpool->1x1 branches, concatenated,
    then a 1x1 projection conv block (batch norm before the activation, optional pool and dropout).

    The 1x1 branch, the two reductions and the pool branch give `reduce_channels` each; the 3x3 and 5x5 convs give
    `branch_channels`; the projection maps the 2*reduce + 2*branch concatenation to `out_channels`. Branch convs
    carry no batch norm, as in the seed-001 network this module was written for.
    """

    def __init__(
        self,
        in_channels: int,
        reduce_channels: int,
        branch_channels: int,
        out_channels: int,
        *,
        activation: str = "relu",
        negative_slope: float = 0.01,
        pool: str = "none",
        dropout: float | None = None,
        key: str = "module",
    ) -> None:
        super().__init__()
        act = {"activation": activation, "negative_slope": negative_slope, "key": key}

        def unit(c_in: int, c_out: int, k: int) -> nn.Sequential:
            return conv_block(c_in, c_out, k, padding=k // 2, **act)

        self.branch1 = unit(in_channels, reduce_channels, 1)
        self.branch3 = nn.Sequential(
            unit(in_channels, reduce_channels, 1), unit(reduce_channels, branch_channels, 3)
        )
        self.branch5 = nn.Sequential(
            unit(in_channels, reduce_channels, 1), unit(reduce_channels, branch_channels, 5)
        )
        # stride 1, padding 1 keeps the pooled branch the same size as the others so they concatenate
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), unit(in_channels, reduce_channels, 1)
        )
        self.project = conv_block(
            2 * reduce_channels + 2 * branch_channels,
            out_channels,
            1,
            norm="before",
            pool=pool,
            dropout=dropout,
            **act,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the four branches on `x`, concatenate them along channels and project."""
        branches = (self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x))
        return self.project(torch.cat(branches, dim=1))


class ConvClassifier(nn.Module):
    """A feature extractor, a flatten, and a classifier head producing logits (never softmax)."""

    def __init__(self, features: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images [B, C, H, W] to logits [B, num_classes]."""
        return self.classifier(torch.flatten(self.features(x), 1))


def feature_shape(features: nn.Module, in_channels: int, image_size: int, *, model: str) -> torch.Size:
    """Shape [C, H, W] that `features` outputs for one image, found by a dry run; ConfigError if the image is too small."""
    was_training = features.training
    # eval mode so the dry run leaves batch-norm running statistics untouched
    features.eval()
    try:
        with torch.no_grad():
            out = features(torch.zeros(1, in_channels, image_size, image_size))
    except RuntimeError as err:
        raise ConfigError(
            f"model={model}: image_size={image_size} is too small for this network's convolutions and pooling "
            f"({err}); use a larger data.image_size or fewer pooling stages"
        ) from err
    finally:
        features.train(was_training)
    if out.numel() == 0:
        raise ConfigError(
            f"model={model}: image_size={image_size} shrinks to nothing ({tuple(out.shape[1:])})"
        )
    return out.shape[1:]


def dropout_layers(model: nn.Module) -> list[nn.modules.dropout._DropoutNd]:
    """Every dropout layer of `model` (Dropout, Dropout2d, ...)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


def set_dropout(model: nn.Module, p: float | None, *, name: str) -> nn.Module:
    """Apply the `model.dropout` knob: None keeps the network's own rates, a float replaces every dropout rate.

    A network without dropout layers accepts only None or 0.0: a positive rate would silently do nothing.
    """
    if p is None:
        return model
    layers = dropout_layers(model)
    if not layers and float(p) > 0:
        raise ConfigError(
            f"model.dropout={p} cannot apply: model={name} has no dropout layers (its source uses none); "
            "leave model.dropout=null"
        )
    for layer in layers:
        layer.p = float(p)
    return model
