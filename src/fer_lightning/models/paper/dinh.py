"""Replica of the best model of seed report 002 (Dinh & Gray, CNNs on FER2013)."""

from __future__ import annotations

from torch import nn

from fer_lightning.models.layers import ConvClassifier, conv_block, linear_block, set_dropout
from fer_lightning.models.registry import register_model

NAME = "paper/dinh_gray"


@register_model(
    NAME,
    input_shape=(1, 48, 48),
    num_classes=7,
    fixed_input=True,
    source="seed 002: Q. H. Dinh & E. Gray, 'Project 3 Documentation' (FER2013), best model",
)
def dinh_gray(*, in_channels: int, num_classes: int, image_size: int, dropout: float | None) -> nn.Module:
    """The report's best model (61.36 % FER2013 accuracy), from its section IV.3 layer list.

    Input 1x48x48 (FER2013 grey); 981,191 trainable parameters. Four blocks of 3x3 conv (padding 1) -> BN -> ReLU ->
    2x2 max-pool -> dropout, with 32-64-128-256 channels and dropout 0.5, 0.3, 0.5, 0.3 (48 -> 3), then
    2304 -> 256 -> BN -> ReLU -> dropout 0.5 -> 7.
    """
    convs = zip((in_channels, 32, 64, 128), (32, 64, 128, 256), (0.5, 0.3, 0.5, 0.3), strict=True)
    features = nn.Sequential(
        *(
            conv_block(c_in, c_out, 3, padding=1, norm="before", pool="max", dropout=p)
            for c_in, c_out, p in convs
        )
    )
    classifier = nn.Sequential(
        linear_block(256 * 3 * 3, 256, norm="before", dropout=0.5),
        nn.Linear(256, num_classes),
    )
    return set_dropout(ConvClassifier(features, classifier), dropout, name=NAME)
