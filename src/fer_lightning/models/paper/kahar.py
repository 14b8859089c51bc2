"""Replica of the CNN of seed report 004 (Kahar, face expression recognition dataset)."""

from __future__ import annotations

from torch import nn

from fer_lightning.models.layers import ConvClassifier, conv_block, linear_block, set_dropout
from fer_lightning.models.registry import register_model

NAME = "paper/kahar"


@register_model(
    NAME,
    input_shape=(3, 48, 48),
    num_classes=7,
    fixed_input=True,
    source="seed 004: A. I. bin Kahar, 'MCTA 4363 Assignment 1' (Kaggle face expression recognition dataset), "
    "FacialExpressionCNN",
)
def kahar(*, in_channels: int, num_classes: int, image_size: int, dropout: float | None) -> nn.Module:
    """FacialExpressionCNN from the report's code (55 % test accuracy).

    Input 3x48x48: the 48x48 grey faces are read as RGB and ImageNet-normalised in the report. 423,751 trainable
    parameters. Three 5x5 convs without padding, 32-64-128 channels, each ReLU -> 2x2 max-pool (48 -> 2), then
    512 -> 256 -> 128 (ReLU) -> 7. The report uses no dropout and no batch norm, so `model.dropout` accepts only null
    or 0 here.
    """
    features = nn.Sequential(
        conv_block(in_channels, 32, 5, pool="max"),
        conv_block(32, 64, 5, pool="max"),
        conv_block(64, 128, 5, pool="max"),
    )
    classifier = nn.Sequential(
        linear_block(128 * 2 * 2, 256),
        linear_block(256, 128),
        nn.Linear(128, num_classes),
    )
    return set_dropout(ConvClassifier(features, classifier), dropout, name=NAME)
