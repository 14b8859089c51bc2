"""Checkpoints: the best one by the monitored metric, and `last.ckpt` rewritten at the end of every epoch."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint


class BestAndLastCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, except that `last.ckpt` follows every epoch.

    Lightning 2.6 rewrites `last.ckpt` only in an epoch whose monitored metric made the top-k, so after an epoch
    without improvement it still held an older epoch and `resume=true` restarted from there, repeating epochs.
    """

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Save as Lightning does at the end of a training epoch, then `last.ckpt` if Lightning did not."""
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._ensure_last(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Save as Lightning does at the end of validation, then `last.ckpt` if Lightning did not."""
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._ensure_last(trainer)

    def _ensure_last(self, trainer: pl.Trainer) -> None:
        if (
            self.save_last
            and not self._should_skip_saving_checkpoint(trainer)
            and (self._last_global_step_saved != trainer.global_step)
        ):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
