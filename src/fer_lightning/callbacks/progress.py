"""The console progress bar: Lightning's Rich bar (elapsed and remaining time) without the logger version."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar


class ProgressBar(RichProgressBar):
    """RichProgressBar without `v_num`: the first logger's version (an MLflow run id's tail, a W&B id) means nothing
    beside the run dir the console already shows."""

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict:
        """The bar's metrics, minus the logger version."""
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics
