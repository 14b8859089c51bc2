"""`inception`: a small CNN of simplified GoogLeNet-style modules, sized by stem channels, depth and width."""

from __future__ import annotations

from torch import nn

from fer_lightning.config_checks import check_positive_int
from fer_lightning.errors import ConfigError
from fer_lightning.models.layers import ConvClassifier, InceptionModule, conv_block, set_dropout
from fer_lightning.models.registry import register_model

DEFAULT_DROPOUT = 0.2  # seed 001 tuned its inception network between 0.1 and 0.2


@register_model(
    "inception",
    input_shape=(1, 48, 48),
    source="configurable; simplified inception modules as in seed 001 (Di Benedetto & Hindel), after Szegedy et al. 2014",
)
def inception(
    *,
    in_channels: int,
    num_classes: int,
    image_size: int,
    dropout: float | None,
    stem_channels: int = 32,
    depth: int = 3,
    width: int = 16,
    activation: str = "elu",
    negative_slope: float = 0.01,
) -> nn.Module:
    """Stem (3x3 conv, BN, activation, 2x2 max-pool), then `depth` inception modules, global average pool, linear.

    Module i reduces to r = width * 2**i channels in its 1x1 branches, gives 2r from its 3x3 and 5x5 branches and
    projects the 6r concatenation to 4r. Every module but the last is followed by a 2x2 max-pool, and each by dropout
    (0.2 unless `dropout` says otherwise), so a 48x48 input ends at 6x6 for depth 3. ELU is the default activation
    because seed 001 found it better than ReLU for this network.
    """
    for name, value in (("stem_channels", stem_channels), ("depth", depth), ("width", width)):
        check_positive_int(f"model.{name}", value)
    if image_size < 2**depth:
        raise ConfigError(
            f"model=inception with model.depth={depth} halves the image {depth} times, so it needs "
            f"data.image_size >= {2**depth}, got {image_size}; lower model.depth"
        )
    act = {"activation": activation, "negative_slope": negative_slope, "key": "model"}
    layers: list[nn.Module] = [
        conv_block(in_channels, stem_channels, 3, padding=1, norm="before", pool="max", **act)
    ]
    channels = stem_channels
    for i in range(depth):
        r = width * 2**i
        pool = "max" if i < depth - 1 else "none"
        layers.append(InceptionModule(channels, r, 2 * r, 4 * r, pool=pool, dropout=DEFAULT_DROPOUT, **act))
        channels = 4 * r
    layers.append(nn.AdaptiveAvgPool2d(1))
    head = nn.Sequential(nn.Dropout(DEFAULT_DROPOUT), nn.Linear(channels, num_classes))
    return set_dropout(ConvClassifier(nn.Sequential(*layers), head), dropout, name="inception")
