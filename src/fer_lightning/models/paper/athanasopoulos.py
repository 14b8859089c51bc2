"""Replica of MODEL7V3 from seed report 000 (Athanasopoulos, CNNs on FER2013)."""

from __future__ import annotations

from torch import nn

from fer_lightning.models.layers import ConvClassifier, conv_block, linear_block, set_dropout
from fer_lightning.models.registry import register_model

NAME = "paper/athanasopoulos_model7v3"


@register_model(
    NAME,
    input_shape=(1, 48, 48),
    num_classes=7,
    fixed_input=True,
    source="seed 000: N. Athanasopoulos, 'Assignment 2: Deep Learning with CNNs' (FER2013), MODEL7V3",
)
def athanasopoulos_model7v3(
    *, in_channels: int, num_classes: int, image_size: int, dropout: float | None
) -> nn.Module:
    """MODEL7V3, the report's best network (57.15 % FER2013 test accuracy), from the code printed in its Step 6.

    Input 1x48x48 (FER2013 grey); 6,783,559 trainable parameters, as the report states. Convs 5x5 1->32, 5x5 32->64,
    7x7 64->128, 7x7 128->256 with 'same' padding and LeakyReLU(0.01); batch norm after the activation of the 2nd
    and 4th conv, each followed by 2x2 max-pool (48 -> 12); then 36864 -> 128 -> 32, each ReLU -> BN -> dropout 0.2,
    and -> 7. Deviation: the report applies softmax before CrossEntropyLoss; this replica returns logits, since the
    loss applies log-softmax itself and a second softmax only flattens the gradients.
    """
    leaky = {"padding": "same", "activation": "leaky_relu", "negative_slope": 0.01}
    features = nn.Sequential(
        conv_block(in_channels, 32, 5, **leaky),
        conv_block(32, 64, 5, norm="after", pool="max", **leaky),
        conv_block(64, 128, 7, **leaky),
        conv_block(128, 256, 7, norm="after", pool="max", **leaky),
    )
    classifier = nn.Sequential(
        linear_block(256 * 12 * 12, 128, norm="after", dropout=0.2),
        linear_block(128, 32, norm="after", dropout=0.2),
        nn.Linear(32, num_classes),
    )
    return set_dropout(ConvClassifier(features, classifier), dropout, name=NAME)
