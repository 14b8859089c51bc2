"""Weight decay on weights only: biases and normalisation scales/shifts in groups of their own without decay
(`module.decay_norm_and_bias=false`).

Decay pulls a batch norm's scale toward zero although the scale's size carries no capacity the decay should limit
(the next conv's weights can undo any scale), and a bias shifts, it does not weigh; timm and the ResNet training
recipes therefore decay only the conv and linear weights. A parameter with at most one dimension is a bias or a
norm's scale/shift.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def is_norm_or_bias(param: nn.Parameter) -> bool:
    """True for biases and normalisation scales/shifts (parameters of at most one dimension)."""
    return param.ndim <= 1


def split_norm_and_bias(groups: Iterable[dict]) -> list[dict]:
    """Each parameter group split in two: its weights (decayed as configured) and its biases and norm
    parameters with ``weight_decay=0``, named ``<name>_no_decay`` (``no_decay`` for an unnamed group).

    Every other key of a group travels with both halves; a half without parameters is left out.
    """
    split: list[dict] = []
    for group in groups:
        params = list(group["params"])
        weights = [p for p in params if not is_norm_or_bias(p)]
        others = [p for p in params if is_norm_or_bias(p)]
        if weights:
            split.append({**group, "params": weights})
        if others:
            name = f"{group['name']}_no_decay" if "name" in group else "no_decay"
            split.append({**group, "params": others, "weight_decay": 0.0, "name": name})
    return split
