"""The full training loop through Lightning, with the real data pipeline and augmentation."""

from __future__ import annotations

import time

import pytorch_lightning as pl
import torch


class StepTimer(pl.Callback):
    """Times training batches after a warm-up, ending with a device sync so queued GPU work is counted."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start: float | None = None
        self.images = 0
        self.elapsed = 0.0

    def _sync(self, pl_module: pl.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        """Start the clock once the warm-up batches are done."""
        if trainer.global_step == self.warmup and self.start is None:
            self._sync(pl_module)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        """Count the images of every timed batch."""
        if self.start is not None:
            self.images += len(batch[1])

    def on_train_end(self, trainer, pl_module) -> None:
        """Stop the clock."""
        if self.start is not None:
            self._sync(pl_module)
            self.elapsed = time.perf_counter() - self.start

    @property
    def images_per_second(self) -> float:
        """Throughput of the timed batches."""
        return self.images / self.elapsed if self.elapsed else float("nan")


def fit_only_trainer(**kwargs) -> pl.Trainer:
    """A Trainer that only fits: no validation, logger, checkpoints, progress bar or model summary (`kwargs` win)."""
    options = {
        "limit_val_batches": 0,
        "num_sanity_val_steps": 0,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    return pl.Trainer(**{**options, **kwargs})


def measure_train_loop(
    trainer_kwargs: dict, module: pl.LightningModule, datamodule, *, steps: int, warmup: int
) -> float:
    """Images per second of `trainer.fit` over `steps` timed batches (no validation, logging or checkpoints)."""
    timer = StepTimer(warmup)
    trainer = fit_only_trainer(**trainer_kwargs, max_steps=warmup + steps, callbacks=[timer])
    trainer.fit(module, datamodule=datamodule)
    return timer.images_per_second
