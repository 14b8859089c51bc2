"""The module's hyperparameters as flat `key: value` params, the run config under its dotted keys (`optimizer.lr`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def flat_params(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten the classifier's hparams: the run config's keys as on the command line, the other hparams as they are.

    `{"config": {"optimizer": {"lr": 0.001}}, "num_classes": 7}` -> `{"optimizer.lr": 0.001, "num_classes": 7}`.
    Lists stay whole values (`data.mean: [0.5]`), so every param is one override a user could type.
    """
    params = dict(hparams)
    out: dict[str, Any] = {}
    _flatten(params.pop("config", None) or {}, "", out)
    for key, value in params.items():
        _flatten(value, key, out)
    return out
