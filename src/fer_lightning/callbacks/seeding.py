"""Epoch-keyed seeding of the global RNG, so a resumed run draws the same dropout masks as an uninterrupted one."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from fer_lightning.data.loader import epoch_seed


class EpochSeed(pl.Callback):
    """Re-seed torch's global generators at the start of every training epoch from (seed, epoch)."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Seed CPU and CUDA generators; each rank gets its own stream."""
        torch.manual_seed(epoch_seed(self.seed, trainer.current_epoch, salt=10_000 + trainer.global_rank))
