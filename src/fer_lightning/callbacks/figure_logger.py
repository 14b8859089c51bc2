"""Figures during training: the validation confusion matrix in TensorBoard each epoch; at the end curves.png and
confusion_matrix.png in the run dir, also attached to MLflow / W&B when those loggers are on."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger

from fer_lightning.callbacks.run_record import RunRecorder
from fer_lightning.loggers.artifacts import log_files

log = logging.getLogger(__name__)


def tensorboard_writer(trainer: pl.Trainer):
    """The SummaryWriter of the trainer's TensorBoard logger, or None when the run has no such logger."""
    logger = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
    return logger.experiment if logger is not None else None


class FigureLogger(pl.Callback):
    """Logs the validation confusion matrix as a TensorBoard image and writes `curves.png` into the run dir."""

    def __init__(self, output_dir: str, confusion_matrix: bool = True, curves: bool = True) -> None:
        self.output_dir = Path(output_dir)
        self.confusion_matrix = confusion_matrix
        self.curves = curves

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Add this epoch's validation confusion matrix to TensorBoard (a no-op without a TensorBoard logger).

        `on_validation_end` rather than `on_validation_epoch_end`: callbacks see the epoch-end hook before
        the module does, so the module's confusion matrix would still be last epoch's.
        """
        if not self.confusion_matrix or trainer.sanity_checking or not trainer.is_global_zero:
            return
        cm = getattr(pl_module, "last_val_confusion", None)
        writer = tensorboard_writer(trainer)
        if cm is None or writer is None:
            return
        from fer_lightning.evaluation.figures import confusion_matrix_figure
        from fer_lightning.plotting import figure_to_tensor

        names = list(getattr(pl_module, "class_names", [str(i) for i in range(cm.shape[0])]))
        fig = confusion_matrix_figure(cm, names, title=f"validation, epoch {trainer.current_epoch}")
        writer.add_image("val/confusion_matrix", figure_to_tensor(fig), global_step=trainer.global_step)

    def history(self, trainer: pl.Trainer) -> list[dict]:
        """Per-epoch rows from the run's RunRecorder, else from `epoch_metrics.json` in the run dir."""
        recorder = next((c for c in trainer.callbacks if isinstance(c, RunRecorder)), None)
        if recorder is not None and recorder.history:
            return list(recorder.history)
        path = self.output_dir / "epoch_metrics.json"
        return json.loads(path.read_text()) if path.is_file() else []

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Write `curves.png` and the last validation's `confusion_matrix.png`; attach both to the trackers."""
        if not trainer.is_global_zero:
            return
        written = [self.write_curves(trainer)] if self.curves else []
        if self.confusion_matrix:
            written.append(self.write_confusion_matrix(trainer, pl_module))
        log_files(trainer, [path for path in written if path is not None])

    def write_curves(self, trainer: pl.Trainer) -> Path | None:
        """`curves.png`: loss and accuracy per epoch, training against validation."""
        history = self.history(trainer)
        if not history:
            log.info(
                "no epoch record (no RunRecorder callback and no epoch_metrics.json); curves.png not written"
            )
            return None
        from fer_lightning.evaluation.figures import curves_figure
        from fer_lightning.plotting import save_figure

        return save_figure(
            curves_figure(history, title=f"{len(history)} epoch{'s' if len(history) != 1 else ''}"),
            self.output_dir / "curves.png",
        )

    def write_confusion_matrix(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Path | None:
        """`confusion_matrix.png` of the last validation (None when there was none)."""
        cm = getattr(pl_module, "last_val_confusion", None)
        if cm is None:
            return None
        from fer_lightning.evaluation.figures import confusion_matrix_figure
        from fer_lightning.plotting import save_figure

        names = list(getattr(pl_module, "class_names", [str(i) for i in range(cm.shape[0])]))
        fig = confusion_matrix_figure(cm, names, title="validation, end of training")
        return save_figure(fig, self.output_dir / "confusion_matrix.png")
