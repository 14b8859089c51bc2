"""Per-epoch metrics and timings written to `epoch_metrics.json` as training goes, so a crash loses nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from fer_lightning.runtime.jsonio import write_json


def scalar_metrics(metrics: dict) -> dict[str, float]:
    """The single-number entries of a metrics dict (tensors or numbers) as floats."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1 or isinstance(value, int | float):
            out[key] = float(value)
    return out


class RunRecorder(pl.Callback):
    """Records each epoch's logged metrics and wall time; the history survives in the checkpoint for resumes."""

    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)
        self.history: list[dict] = []
        self._epoch_start: float | None = None

    @property
    def path(self) -> Path:
        """Where the per-epoch record is written."""
        return self.output_dir / "epoch_metrics.json"

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Start this epoch's clock."""
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Append the epoch's metrics: validation from the logged values, training straight from the module.

        Callbacks see this hook before the module logs its training metrics, and before checkpoints are
        written, so the row is read from the module's metric state and is part of this epoch's checkpoint.
        """
        seconds = time.perf_counter() - self._epoch_start if self._epoch_start is not None else None
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step, "seconds": seconds}
        row.update(
            scalar_metrics({k: v for k, v in trainer.callback_metrics.items() if not k.startswith("train/")})
        )
        if hasattr(pl_module, "epoch_train_metrics"):
            row.update(scalar_metrics(pl_module.epoch_train_metrics()))
        row["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else None
        self.history = [h for h in self.history if h["epoch"] != row["epoch"]] + [row]
        if trainer.is_global_zero:
            write_json(self.path, self.history)

    def state_dict(self) -> dict:
        """The history so far, saved in checkpoints so a resumed run keeps one continuous record."""
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the history of a resumed run."""
        self.history = list(state_dict.get("history", []))
