"""Checks of single config values, one wording per rule: the key, the value given, and what is allowed.

The class that owns a value checks it with these; the config check that runs before a run dir exists
(`runtime/validate.py`) applies the same functions early, so a mistake reads the same wherever it is caught. Nothing
here imports torch: that early check must stay fast.
"""

from __future__ import annotations

from collections.abc import Iterable

from fer_lightning.errors import ConfigError


def check_choice(value: object, allowed: Iterable[str], key: str, note: str = "") -> str:
    """Return `value` when it is one of `allowed`, else raise a ConfigError naming `key` and the allowed values."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not supported{note}; allowed values: {', '.join(allowed)}")
    return str(value)


def is_int_at_least(value: object, least: int) -> bool:
    """True when `value` is an integer of at least `least`; a bool is not one (`true` in a config must not pass as 1)."""
    return not isinstance(value, bool) and isinstance(value, int) and value >= least


def check_positive_int(key: str, value: object, note: str = "") -> None:
    """Raise a ConfigError unless `value` is an integer above zero."""
    if not is_int_at_least(value, 1):
        raise ConfigError(f"{key}={value!r} must be a positive integer{note}")


def check_bool(key: str, value: object, note: str = "") -> None:
    """Raise a ConfigError unless `value` is true or false (a 0/1 or a string is not a switch)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} must be true or false{note}")


def check_positive(key: str, value: object) -> None:
    """Raise a ConfigError unless `value` is a number above zero."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{key}={value!r} must be a positive number")


def check_fraction(key: str, value: object, note: str = "") -> None:
    """Raise a ConfigError unless `value` is a number in [0, 1) (a probability that leaves something over)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{key}={value} must be in [0, 1){note}")


def check_image_size(size: object) -> None:
    """The `data.image_size` rule: a whole number of pixels per side, above zero."""
    check_positive_int("data.image_size", size, " (pixels per side)")


def check_channels(channels: object) -> None:
    """The `data.channels` rule: 1 (grayscale) or 3 (RGB)."""
    if isinstance(channels, bool) or channels not in (1, 3):
        raise ConfigError(
            f"data.channels={channels!r} is not supported; allowed values: 1 (grayscale), 3 (RGB)"
        )


def check_num_classes(num_classes: object, *, null: bool = False) -> None:
    """The `data.num_classes` rule: 7 (no contempt) or 8; `null` (keep what the source has) where the caller allows it."""
    allowed: tuple[int | None, ...] = (7, 8, None) if null else (7, 8)
    if isinstance(num_classes, bool) or num_classes not in allowed:
        raise ConfigError(
            f"data.num_classes={num_classes!r} is not supported; allowed values: 7 (no contempt), 8"
            + (", null" if null else "")
        )


def check_dropout(p: float | None) -> None:
    """The `model.dropout` rule: null keeps each network's own rates, else one probability in [0, 1)."""
    if p is not None:
        check_fraction("model.dropout", p, " (or null for the model's own dropouts)")
