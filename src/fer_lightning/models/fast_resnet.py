"""`fast_resnet`: a small residual network shaped for 48x48 faces and the bf16 matrix units of a laptop/server CPU."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from fer_lightning.config_checks import check_bool, check_positive_int, is_int_at_least
from fer_lightning.errors import ConfigError
from fer_lightning.models.layers import set_dropout
from fer_lightning.models.registry import register_model

DEFAULT_DROPOUT = 0.2


def _conv_bn_relu(cin: int, cout: int, pool: bool = False) -> nn.Sequential:
    # no conv bias: the batch norm that follows has its own shift. pool=True puts a 2x2 max-pool between the conv
    # and its batch norm, so the norm and ReLU run on a quarter of the pixels.
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    return nn.Sequential(
        conv, *([nn.MaxPool2d(2)] if pool else []), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class Residual(nn.Module):
    """x + two (3x3 conv, BN, ReLU) layers at the same width."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn_relu(channels, channels), _conv_bn_relu(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the residual branch to its input."""
        return x + self.body(x)


@register_model(
    "fast_resnet",
    input_shape=(1, 48, 48),
    source="this project: a ResNet-9-style layout (prep conv, then per stage conv + 2x2 max-pool + residual blocks) "
    "after the CIFAR-10 speed-run networks (D. Page, 'How to train your ResNet', 2018), narrowed for a 2-core CPU",
)
def fast_resnet(
    *,
    in_channels: int,
    num_classes: int,
    image_size: int,
    dropout: float | None,
    stem_channels: int | None = 32,
    channels: Sequence[int] = (32, 64, 128),
    blocks: Sequence[int] = (1, 2, 2),
    pool_first: bool = False,
    head_grid: int = 1,
    input_norm: bool = False,
    space_to_depth: bool = False,
) -> nn.Module:
    """Prep conv at full resolution, then per stage: 3x3 conv to the stage width, 2x2 max-pool, `blocks[i]` residual
    blocks; global average pooling, dropout, linear.

    Channels are multiples of 32 so the convolutions map onto the CPU's bf16 kernels without padding. The defaults
    (32-64-128 channels, blocks 1-2-2) were chosen on FER2013 by 20-minute runs on a 2-core CPU
    (docs/results/fer2013_fast.md): a narrow network that sees the data ~20 times beat a 4x wider one that sees it
    ~10 times. 48 -> 24 -> 12 -> 6, 860,455 parameters and 0.096 GMACs per face (`python -m fer_lightning.models`).

    `pool_first=True` orders each stage's first layer conv, max-pool, batch norm, ReLU (as the later CIFAR-10
    speed runs do) instead of conv, batch norm, ReLU, max-pool: the same parameters and MACs, but a CPU spends much
    of a step on batch norm and ReLU over large activations, and these now run at a quarter of the pixels.
    `model=fast_resnet` (conf/model/fast_resnet.yaml) trains with `pool_first=True` and no prep conv (851,175
    parameters, 0.075 GMACs); these keyword defaults keep the older layout because a checkpoint written before
    `pool_first` existed holds `stem_channels=32` and no `pool_first` key, and rebuilds with them.

    `head_grid=k` averages the last feature map over a k x k grid of cells instead of globally and gives the
    linear layer all k*k cells (k*k times its inputs): FER faces are aligned, so where on the face a feature fires
    (brows, eyes, mouth) is information that global pooling throws away. 1 (the default) is global pooling.

    `input_norm=True` standardises each image by its own mean and standard deviation (per channel) before the
    first conv, the per-image normalisation of the FER2013 challenge's winning entry (Tang 2013): a face's
    brightness and contrast say nothing about its expression. A layer without weights, so it travels with the
    network into `eval`, `predict` and exports, and a checkpoint without it loads either way.

    `space_to_depth=True` hands the first layer each 2x2 block of pixels as 4 channels at half the resolution
    (`nn.PixelUnshuffle(2)`, no weights) and drops the first stage's max-pool: the one convolution that ran at full
    resolution now runs on a quarter of the positions with four times the input channels (the same MACs), its 3x3
    window seeing 6x6 pixels, and the first stage's max-pool, its backward pass and its full-resolution activations
    are gone. The same stages, widths and output size otherwise; needs an even `image_size`.
    """
    if len(channels) != len(blocks) or not channels:
        raise ConfigError(
            f"model.channels={list(channels)} and model.blocks={list(blocks)} must be non-empty and of equal length "
            "(one entry per stage)"
        )
    if not all(is_int_at_least(v, 1) for v in channels):
        raise ConfigError(f"model.channels={list(channels)!r} must hold positive integers")
    if not all(is_int_at_least(v, 0) for v in blocks):
        raise ConfigError(f"model.blocks={list(blocks)!r} must hold non-negative integers")
    for key, value in (
        ("pool_first", pool_first),
        ("input_norm", input_norm),
        ("space_to_depth", space_to_depth),
    ):
        check_bool(f"model.{key}", value)
    check_positive_int("model.head_grid", head_grid, " (1: global average pooling)")
    if stem_channels is not None:
        check_positive_int("model.stem_channels", stem_channels, ", or null for no prep conv")
    if image_size < 2 ** len(channels):
        raise ConfigError(
            f"model=fast_resnet: data.image_size={image_size} is too small for {len(channels)} pooling stages "
            f"(needs at least {2 ** len(channels)})"
        )
    if head_grid > image_size // 2 ** len(channels):
        raise ConfigError(
            f"model.head_grid={head_grid} is finer than the last feature map: data.image_size={image_size} after "
            f"{len(channels)} pooling stages is {image_size // 2 ** len(channels)} pixels wide"
        )
    if space_to_depth and image_size % 2:
        raise ConfigError(
            f"model.space_to_depth=true folds 2x2 pixel blocks into channels and needs an even data.image_size, "
            f"got {image_size}"
        )
    # space_to_depth: the 2x2 fold replaces the first stage's pool, so later stages see the same resolutions
    layers: list[nn.Module] = [nn.PixelUnshuffle(2)] if space_to_depth else []
    width = in_channels * 4 if space_to_depth else in_channels
    # stem_channels=None: no prep conv; the first stage's conv reads the image (one 3x3 conv at full resolution
    # instead of two, which is where a CPU spends most of the step)
    if stem_channels is not None:
        layers.append(_conv_bn_relu(width, stem_channels))
        width = stem_channels
    for stage, (out, n) in enumerate(zip(channels, blocks, strict=True)):
        if stage == 0 and space_to_depth:
            first = [_conv_bn_relu(width, out)]
        elif pool_first:
            first = [_conv_bn_relu(width, out, pool=True)]
        else:
            first = [_conv_bn_relu(width, out), nn.MaxPool2d(2)]
        layers += [*first, *(Residual(out) for _ in range(n))]
        width = out
    net = FastResNet(nn.Sequential(*layers), width, num_classes, head_grid)
    if input_norm:
        # InstanceNorm without affine or running stats: each image's own statistics, in training and in eval
        net.input_norm = nn.InstanceNorm2d(in_channels)
    return set_dropout(net, dropout, name="fast_resnet")


class FastResNet(nn.Module):
    """Optional per-image input standardisation, features, average pooling (global, or over a `head_grid` x
    `head_grid` grid), dropout and a linear layer."""

    def __init__(self, features: nn.Module, width: int, num_classes: int, head_grid: int = 1) -> None:
        super().__init__()
        self.features = features
        self.head_grid = head_grid
        self.input_norm: nn.Module = nn.Identity()
        self.dropout = nn.Dropout(DEFAULT_DROPOUT)
        self.classifier = nn.Linear(width * head_grid * head_grid, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images [B, C, H, W] to logits [B, num_classes]."""
        features = self.features(self.input_norm(x))
        if self.head_grid == 1:
            pooled = features.mean(dim=(2, 3))
        else:
            pooled = F.adaptive_avg_pool2d(features, self.head_grid).flatten(1)
        return self.classifier(self.dropout(pooled))
