"""Replicas of the two final networks of seed report 001 (Di Benedetto & Hindel, CNNs on FER2013)."""

from __future__ import annotations

from torch import nn

from fer_lightning.models.layers import ConvClassifier, InceptionModule, conv_block, linear_block, set_dropout
from fer_lightning.models.registry import register_model

SOURCE = "seed 001: D. Di Benedetto & J. Hindel, 'CV Assignment 2' (FER2013), appendix Figure 7"
MODEL1 = "paper/dibenedetto_model1"
MODEL2 = "paper/dibenedetto_model2"
MODEL1_DROPOUT = 0.2  # not given in the report; the rate its authors first tried on model 2
MODEL2_DROPOUT = 0.1  # the report's best inception row: "7x7 inc | inc | inc | yes (0.1) | ELU"


@register_model(MODEL1, input_shape=(1, 48, 48), num_classes=7, fixed_input=True, source=f"{SOURCE}, model 1")
def dibenedetto_model1(
    *, in_channels: int, num_classes: int, image_size: int, dropout: float | None
) -> nn.Module:
    """Model 1, the sequential ELU network (60 % accuracy after 50 epochs), from the report's layer table.

    Input 1x48x48 (FER2013 grey); 700,439 trainable parameters, as the table totals. Six 3x3 convs (padding 1) each
    -> BN -> ELU, 8-16-32-64-128-256 channels; 2x2 max-pool after the 2nd, 3rd, 5th and 6th (48 -> 3) and dropout
    after every one but the 1st; then 2304 -> 128 -> 64 -> 32 -> 16 (ELU) -> 7. The table lists the Dropout layers
    without their rate; 0.2 is our choice (override with model.dropout).
    """
    pools = ("none", "max", "max", "none", "max", "max")
    convs = zip((in_channels, 8, 16, 32, 64, 128), (8, 16, 32, 64, 128, 256), pools, strict=True)
    features = nn.Sequential(
        *(
            conv_block(
                c_in,
                c_out,
                3,
                padding=1,
                norm="before",
                activation="elu",
                pool=pool,
                dropout=None if i == 0 else MODEL1_DROPOUT,
            )
            for i, (c_in, c_out, pool) in enumerate(convs)
        )
    )
    widths = (256 * 3 * 3, 128, 64, 32, 16)
    classifier = nn.Sequential(
        *(linear_block(a, b, activation="elu") for a, b in zip(widths, widths[1:], strict=False)),
        nn.Linear(16, num_classes),
    )
    return set_dropout(ConvClassifier(features, classifier), dropout, name=MODEL1)


@register_model(MODEL2, input_shape=(1, 48, 48), num_classes=7, fixed_input=True, source=f"{SOURCE}, model 2")
def dibenedetto_model2(
    *, in_channels: int, num_classes: int, image_size: int, dropout: float | None
) -> nn.Module:
    """Model 2, the inception network (54 % accuracy), from the report's layer table.

    Input 1x48x48 (FER2013 grey); 1,714,183 trainable parameters, as the table totals. 7x7 conv 1->8 (padding 3)
    -> BN -> ELU -> 2x2 max-pool (48 -> 24); three simplified inception modules, each with parallel 1x1 (r),
    1x1 (r) -> 3x3 (2r), 1x1 (r) -> 5x5 (2r) and max-pool -> 1x1 (r) branches with ELU, concatenated (6r) and projected
    by a 1x1 conv -> BN -> ELU: r = 16, 64, 128 projected to 32, 64, 256 channels; dropout after the 1st, max-pool and
    dropout after the 2nd, max-pool after the 3rd (-> 6); then 1x1 conv 256->64 -> BN -> ELU -> 2x2 max-pool (-> 3);
    576 -> 32 -> ELU -> dropout -> 7. Dropout is 0.1, the rate of the report's best inception row.

    Readings the table leaves open, chosen to match its shapes and parameter counts: the pool branch is a 3x3 max-pool
    with stride 1 and padding 1 (its output keeps 24x24); the 3x3 and 5x5 convs use padding 1 and 2; every conv has a
    bias (3,104 = 96*32 + 32).
    """
    elu = {"activation": "elu"}
    features = nn.Sequential(
        conv_block(in_channels, 8, 7, padding=3, norm="before", pool="max", activation="elu"),
        InceptionModule(8, 16, 32, 32, dropout=MODEL2_DROPOUT, **elu),
        InceptionModule(32, 64, 128, 64, pool="max", dropout=MODEL2_DROPOUT, **elu),
        InceptionModule(64, 128, 256, 256, pool="max", **elu),
        conv_block(256, 64, 1, norm="before", pool="max", activation="elu"),
    )
    classifier = nn.Sequential(
        linear_block(64 * 3 * 3, 32, activation="elu", dropout=MODEL2_DROPOUT),
        nn.Linear(32, num_classes),
    )
    return set_dropout(ConvClassifier(features, classifier), dropout, name=MODEL2)
