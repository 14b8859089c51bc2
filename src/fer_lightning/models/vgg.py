"""`vgg_fer`: a VGG-style network trained from scratch, the strong single-network FER2013 baseline."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from fer_lightning.config_checks import check_positive_int
from fer_lightning.models.layers import ConvClassifier, conv_block, feature_shape, linear_block, set_dropout
from fer_lightning.models.registry import register_model

DEFAULT_DROPOUT = 0.5  # the classic VGG rate on its fully connected layers


@register_model(
    "vgg_fer",
    input_shape=(1, 48, 48),
    source="after Khaireddin & Chen 2021, 'Facial Emotion Recognition: State of the Art Performance on FER2013', "
    "arXiv:2105.03588",
)
def vgg_fer(
    *,
    in_channels: int,
    num_classes: int,
    image_size: int,
    dropout: float | None,
    stages: Sequence[int] = (64, 128, 256, 512),
    convs_per_stage: int = 2,
    fc_features: Sequence[int] = (1024, 1024),
) -> nn.Module:
    """VGG for 48x48 faces: stages of `convs_per_stage` x (3x3 conv, BN, ReLU) each closed by a 2x2 max-pool,
    then fully connected ReLU layers with dropout 0.5 and a linear output.

    Source: Y. Khaireddin and Z. Chen, "Facial Emotion Recognition: State of the Art Performance on FER2013",
    arXiv:2105.03588 (2021), a VGGNet with four conv stages of two conv blocks (64-128-256-512) reporting 73.28 %
    single-network test accuracy on FER2013. This is a layout in that spirit, not an exact replica: the head width
    here (two layers of 1024, about 10.4 M parameters in all at 1x48x48) is our choice so it trains on modest
    hardware; widen it with `model.fc_features=[4096,4096]`.
    """
    check_positive_int("model.convs_per_stage", convs_per_stage)
    layers, channels = [], in_channels
    for i, out in enumerate(stages):
        for j in range(convs_per_stage):
            last = j == convs_per_stage - 1
            layers.append(
                conv_block(
                    channels,
                    out,
                    3,
                    padding=1,
                    norm="before",
                    pool="max" if last else "none",
                    key=f"model.stages[{i}]",
                )
            )
            channels = out
    features = nn.Sequential(*layers)
    width = math.prod(feature_shape(features, in_channels, image_size, model="vgg_fer"))
    head = []
    for out in fc_features:
        head.append(linear_block(width, out, dropout=DEFAULT_DROPOUT))
        width = out
    head.append(nn.Linear(width, num_classes))
    return set_dropout(ConvClassifier(features, nn.Sequential(*head)), dropout, name="vgg_fer")
