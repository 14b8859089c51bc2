"""Size of the registered networks: trainable parameters and multiply-accumulates per image."""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from fer_lightning.errors import ConfigError
from fer_lightning.models.registry import create_model, list_models

FORMATS = ("table", "json")


@dataclass(frozen=True)
class ModelRow:
    """One registered network measured at its default input."""

    name: str
    params: int
    macs: int
    input_shape: tuple[int, int, int]
    num_classes: int


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one forward pass on one image of `input_shape` (C, H, W); convs and linears only.

    Runs on the model's own device, so a model built on the meta device is measured without computing anything.
    """
    param = next(model.parameters(), None)
    x = torch.zeros(1, *input_shape, device=param.device if param is not None else "cpu")
    was_training = model.training
    model.eval()  # one image: batch norm over a batch of 1 would fail in training mode
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2  # the counter reports FLOPs, two per multiply-accumulate


def model_table() -> list[ModelRow]:
    """Every registered network at its default input, built on the meta device so nothing is allocated or run."""
    rows = []
    for name, info in list_models().items():
        with torch.device("meta"):
            model = create_model(name)
        rows.append(
            ModelRow(
                name,
                count_params(model),
                count_macs(model, info.input_shape),
                info.input_shape,
                info.num_classes,
            )
        )
    return rows


def models_json(rows: list[ModelRow]) -> dict[str, dict[str, dict[str, int]]]:
    """The machine-readable listing: ``{"models": {name: {"params": int, "macs": int}}}``."""
    return {"models": {row.name: {"params": row.params, "macs": row.macs} for row in rows}}


def print_models(fmt: str = "table") -> None:
    """Print the zoo as a rich table (``table``) or as JSON (``json``) on stdout."""
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r} is not supported; allowed: {', '.join(FORMATS)}")
    rows = model_table()
    if fmt == "json":
        print(json.dumps(models_json(rows), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title="fer-lightning model zoo (model=<name>)", caption="sources: get_model_info(name).source"
    )
    table.add_column("name", no_wrap=True)
    for column in ("input CxHxW", "classes", "params", "GMACs"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        shape = "x".join(map(str, row.input_shape))
        table.add_row(row.name, shape, str(row.num_classes), f"{row.params:,}", f"{row.macs / 1e9:.3f}")
    Console().print(table)
