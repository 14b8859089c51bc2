"""`sequential`: a plain CNN described entirely in config, conv blocks then fully connected layers.

Each conv block is conv -> batch norm before/after the activation (or none) -> pool -> dropout; each fully connected
layer is linear -> batch norm before/after the activation (or none) -> dropout; a final linear layer gives the logits.
Every key is validated, so a typo fails with the config path (``model.blocks[2].activaton``) instead of being ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from torch import nn

from fer_lightning.config_checks import check_choice, check_positive_int
from fer_lightning.errors import ConfigError
from fer_lightning.models.layers import (
    ACTIVATIONS,
    NORM_POSITIONS,
    POOL_KINDS,
    ConvClassifier,
    conv_block,
    feature_shape,
    linear_block,
    set_dropout,
)
from fer_lightning.models.registry import register_model

# What every conv block starts from (conv_block's keyword arguments); `block_defaults`, then the block's own keys,
# override it. The layout is the seed-002 network (Dinh & Gray: 32-64-128-256, 3x3 convs, 2x2 max-pool), with batch
# norm after the activation as seed 000 (Athanasopoulos) found better, and one lighter dropout rate so short CPU runs
# converge.
DEFAULT_BLOCK: dict[str, object] = {
    "kernel_size": 3,
    "padding": "same",
    "groups": 1,
    "dilation": 1,
    "norm": "after",
    "activation": "relu",
    "negative_slope": 0.01,
    "pool": "max",
    "pool_size": 2,
    "dropout": 0.25,
}
DEFAULT_BLOCKS: tuple[dict[str, object], ...] = (
    {"channels": 32},
    {"channels": 64},
    {"channels": 128},
    {"channels": 256},
)

DEFAULT_FC_LAYER: dict[str, object] = {
    "norm": "none",
    "activation": "relu",
    "negative_slope": 0.01,
    "dropout": None,
}
DEFAULT_FC: tuple[dict[str, object], ...] = ({"features": 256, "norm": "after", "dropout": 0.5},)

_POSITIVE_INTS = ("channels", "features", "kernel_size", "groups", "dilation", "pool_size")
# checked here as well as in conv_block, so a bad value in block_defaults is reported under that key
_CHOICES = {"norm": NORM_POSITIONS, "activation": ACTIVATIONS, "pool": POOL_KINDS}


def _settings(
    raw: object, defaults: Mapping[str, object], key: str, required: str | None
) -> dict[str, object]:
    """Validate one block/layer entry against the known keys and return it merged over `defaults`."""
    if not isinstance(raw, Mapping):
        example = f"{{{required}: 64}}" if required else "{activation: elu}"
        raise ConfigError(f"{key} must be a mapping such as {example}, got {raw!r}")
    allowed = ([required] if required else []) + list(defaults)
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]} is not a known key; allowed: {', '.join(allowed)}")
    if required and required not in raw:
        raise ConfigError(f"{key}.{required} is required (a positive integer)")
    merged = {**defaults, **raw}
    for name in _POSITIVE_INTS:
        check_positive_int(f"{key}.{name}", merged.get(name, 1))
    slope = merged.get("negative_slope", 0.0)
    if isinstance(slope, bool) or not isinstance(slope, int | float):
        raise ConfigError(f"{key}.negative_slope={slope!r} must be a number (leaky_relu's slope for x < 0)")
    p = merged.get("dropout")
    if p is not None and not (isinstance(p, int | float) and 0.0 <= p < 1.0):
        raise ConfigError(f"{key}.dropout={p!r} must be null (no dropout layer) or a probability in [0, 1)")
    if "pool" in merged and (merged["pool"] is None or isinstance(merged["pool"], bool)):
        # YAML reads `pool: on/off/true/false/null` as booleans/null; on means the usual max-pool
        merged["pool"] = "max" if merged["pool"] else "none"
    for name, allowed in _CHOICES.items():
        if name in merged:
            check_choice(merged[name], allowed, f"{key}.{name}")
    return merged


def _entries(raw: object, key: str) -> Sequence[object]:
    """Check that `raw` is a list of entries (a ListConfig counts)."""
    if isinstance(raw, str | Mapping) or not isinstance(raw, Sequence):
        raise ConfigError(f"{key} must be a list of mappings, got {raw!r}")
    return raw


@register_model(
    "sequential",
    input_shape=(1, 48, 48),
    source="configurable; default layout after seed 002 (Dinh & Gray) with BN after the activation (seed 000)",
)
def sequential(
    *,
    in_channels: int,
    num_classes: int,
    image_size: int,
    dropout: float | None,
    blocks: Sequence[Mapping[str, object]] = DEFAULT_BLOCKS,
    block_defaults: Mapping[str, object] | None = None,
    fc: Sequence[Mapping[str, object]] = DEFAULT_FC,
) -> nn.Module:
    """Build the config-described CNN; the flattened size is found by a dry run at `image_size`.

    Conv block keys: channels (required), kernel_size, padding (int, 'same' or 'valid'), groups, dilation,
    norm (before|after|none), activation (relu|leaky_relu|elu), negative_slope, pool (max|avg|none), pool_size,
    dropout (null for no layer). Fully connected keys: features (required), norm, activation, negative_slope, dropout.
    """
    defaults = _settings(block_defaults or {}, DEFAULT_BLOCK, "model.block_defaults", None)
    convs, channels = [], in_channels
    for i, raw in enumerate(_entries(blocks, "model.blocks")):
        key = f"model.blocks[{i}]"
        settings = _settings(raw, defaults, key, "channels")
        out = settings.pop("channels")
        # the config keys are conv_block's own keyword arguments, so the settings pass straight through
        convs.append(conv_block(channels, out, **settings, key=key))
        channels = out
    features = nn.Sequential(*convs)
    width = math.prod(feature_shape(features, in_channels, image_size, model="sequential"))
    head = []
    for i, raw in enumerate(_entries(fc, "model.fc")):
        key = f"model.fc[{i}]"
        settings = _settings(raw, DEFAULT_FC_LAYER, key, "features")
        out = settings.pop("features")
        head.append(linear_block(width, out, **settings, key=key))
        width = out
    head.append(nn.Linear(width, num_classes))
    return set_dropout(ConvClassifier(features, nn.Sequential(*head)), dropout, name="sequential")
