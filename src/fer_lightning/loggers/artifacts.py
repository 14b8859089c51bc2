"""Attaching the files a run writes (curves.png, the confusion matrix) to the experiment trackers of its trainer."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.loggers import MLFlowLogger, WandbLogger

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def log_files(trainer: pl.Trainer, paths: Iterable[str | Path], folder: str = "figures") -> None:
    """Add files to every tracker of the run: MLflow artifacts under `folder/`, W&B images as `folder/<stem>`.

    TensorBoard and CSV loggers are left alone (TensorBoard gets the confusion matrix as an image each epoch).
    """
    files = [Path(p) for p in paths if Path(p).is_file()]
    if not files or not trainer.is_global_zero:
        return
    for logger in trainer.loggers:
        if isinstance(logger, MLFlowLogger):
            for path in files:
                logger.experiment.log_artifact(logger.run_id, str(path), folder)
        elif isinstance(logger, WandbLogger):
            for path in (p for p in files if p.suffix.lower() in IMAGE_SUFFIXES):
                logger.log_image(key=f"{folder}/{path.stem}", images=[str(path)])
