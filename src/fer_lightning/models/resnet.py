"""`resnet18`: torchvision's ResNet-18 with a stem for small faces, optionally from ImageNet weights."""

from __future__ import annotations

import os

import torch
from torch import nn

from fer_lightning.config_checks import check_choice
from fer_lightning.errors import ConfigError, PretrainedWeightsError
from fer_lightning.models.layers import set_dropout
from fer_lightning.models.registry import register_model

# at or below this size `stem: auto` keeps full resolution (48x48 ends at 6x6, not 2x2)
SMALL_STEM_MAX_SIZE = 64


def _load_torchvision_resnet18(pretrained: bool) -> nn.Module:
    """torchvision's resnet18, with ImageNet weights when `pretrained`; a clear error when they cannot be fetched."""
    # imported here so listing the zoo does not pay for importing torchvision
    from torchvision.models import ResNet18_Weights
    from torchvision.models import resnet18 as tv_resnet18

    if not pretrained:
        return tv_resnet18(weights=None)
    weights = ResNet18_Weights.IMAGENET1K_V1
    try:
        return tv_resnet18(weights=weights, progress=False)
    except OSError as err:  # URLError, HTTPError and socket timeouts are all OSErrors
        cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
        raise PretrainedWeightsError(
            f"model=resnet18 with model.pretrained=true could not download the ImageNet weights from {weights.url} "
            f"({err}). Without network access, place that file at {cached} (the torch hub cache, which follows "
            "$TORCH_HOME), or set model.pretrained=false to train from scratch."
        ) from err


@register_model(
    "resnet18",
    input_shape=(1, 48, 48),
    source="torchvision resnet18 (He et al. 2016, 'Deep Residual Learning for Image Recognition'), small-input stem",
)
def resnet18(
    *,
    in_channels: int,
    num_classes: int,
    image_size: int,
    dropout: float | None,
    pretrained: bool = False,
    stem: str = "auto",
) -> nn.Module:
    """ResNet-18 for FER: `stem` small (3x3 stride-1 conv, no max-pool), imagenet (7x7/2 conv + max-pool) or auto
    (small when image_size <= 64), any `in_channels`, a dropout (rate 0 unless `dropout` is set) before a new head.

    With `pretrained`, every layer starts from torchvision's ``ResNet18_Weights.IMAGENET1K_V1`` except the head and,
    with the small stem, conv1 (ImageNet's 7x7/2 filters do not fit a 3x3/1 conv; it starts from scratch). With the
    imagenet stem and one input channel, conv1's RGB filters are averaged into one grey filter.
    """
    stem = check_choice(stem, ("auto", "small", "imagenet"), "model.stem")
    small = image_size <= SMALL_STEM_MAX_SIZE if stem == "auto" else stem == "small"
    if pretrained and not small and in_channels not in (1, 3):
        raise ConfigError(
            f"model=resnet18 with model.pretrained=true takes 1 or 3 input channels (ImageNet is RGB), got {in_channels}"
        )
    net = _load_torchvision_resnet18(bool(pretrained))
    if small:
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        rgb = net.conv1.weight
        net.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        if pretrained:
            with torch.no_grad():
                net.conv1.weight.copy_(rgb.mean(dim=1, keepdim=True))
    net.fc = nn.Sequential(nn.Dropout(0.0), nn.Linear(net.fc.in_features, num_classes))
    return set_dropout(net, dropout, name="resnet18")
