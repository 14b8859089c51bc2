"""The FER classifier: any zoo network plus loss, optimizer, scheduler and torchmetrics logging."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import Timer
from torch import nn
from torchmetrics import MaxMetric, MeanMetric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from fer_lightning.config_checks import check_bool, check_fraction
from fer_lightning.module.finetune import BackboneFinetuning
from fer_lightning.module.schedules import PlannedSchedule, build_scheduler


def _metrics(num_classes: int, prefix: str) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "precision": MulticlassPrecision(num_classes, average="macro"),
            "recall": MulticlassRecall(num_classes, average="macro"),
            "f1": MulticlassF1Score(num_classes, average="macro"),
        },
        prefix=prefix,
    )


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class FERClassifier(pl.LightningModule):
    """Classifies faces into the canonical expression classes and logs loss, accuracy and macro P/R/F1."""

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: dict | None = None,
        *,
        num_classes: int = 7,
        class_names: Sequence[str] | None = None,
        label_smoothing: float = 0.0,
        class_weights: torch.Tensor | None = None,
        run_config: dict | None = None,
        backbone_lr_scale: float = 1.0,
        freeze_backbone_epochs: int = 0,
        decay_norm_and_bias: bool = True,
    ) -> None:
        super().__init__()
        self.finetuning = BackboneFinetuning(backbone_lr_scale, freeze_backbone_epochs)
        check_bool(
            "module.decay_norm_and_bias",
            decay_norm_and_bias,
            " (true: weight decay on every parameter; false: none on biases and normalisation scales/shifts)",
        )
        self.decay_norm_and_bias = decay_norm_and_bias
        check_fraction("module.label_smoothing", label_smoothing)
        # `run_config` is the composed run config: kept in the checkpoint so eval can rebuild net and data.
        self.save_hyperparameters(
            {"num_classes": num_classes, "class_names": list(class_names or []), "config": run_config}
        )
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_cfg = scheduler
        self.num_classes = num_classes
        self.class_names = list(class_names or [str(i) for i in range(num_classes)])
        self.label_smoothing = label_smoothing
        self.register_buffer("class_weights", class_weights.float() if class_weights is not None else None)
        self.train_metrics = _metrics(num_classes, "train/")
        self.train_loss = MeanMetric()
        self.val_metrics = _metrics(num_classes, "val/")
        self.test_metrics = _metrics(num_classes, "test/")
        self.val_confusion = MulticlassConfusionMatrix(num_classes)
        self.test_confusion = MulticlassConfusionMatrix(num_classes)
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # a resumed run remembers its best epoch
        # Last confusion matrices, read by callbacks and the eval command.
        self.last_val_confusion: torch.Tensor | None = None
        self.last_test_confusion: torch.Tensor | None = None
        self._first_nonfinite_step: torch.Tensor | None = None
        self.nonfinite_check_every = 20  # steps between host reads of the non-finite flag
        self._train_outputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B, num_classes] for a normalised batch."""
        return self.net(x)

    def _step(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if len(batch) == 4:  # mixup / CutMix: (x, own labels, partner labels, own share)
            x, y, y_partner, lam = batch
            logits = self(x)
            loss = self.mixed_loss(logits, y, y_partner, lam)
            # Train metrics count the label with the larger share of the mixed image.
            return loss, logits.detach(), torch.where(lam >= 0.5, y, y_partner)
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(
            logits.float(), y, weight=self.class_weights, label_smoothing=self.label_smoothing
        )
        return loss, logits.detach(), y

    def mixed_loss(
        self, logits: torch.Tensor, y: torch.Tensor, y_partner: torch.Tensor, lam: torch.Tensor
    ) -> torch.Tensor:
        """Cross-entropy against the soft target lam * onehot(y) + (1 - lam) * onehot(y_partner).

        Label smoothing and class weights compose as in ``F.cross_entropy``: the sum of each label's
        weighted, smoothed loss times its share, divided by the sum of the shares' class weights (the
        batch size without weights), so lam = 1 gives exactly the unmixed loss.
        """
        logits = logits.float()
        kwargs = {"weight": self.class_weights, "label_smoothing": self.label_smoothing, "reduction": "none"}
        own = F.cross_entropy(logits, y, **kwargs)
        other = F.cross_entropy(logits, y_partner, **kwargs)
        total = (lam * own + (1 - lam) * other).sum()
        if self.class_weights is None:
            return total / len(y)
        w = self.class_weights
        return total / (lam * w[y] + (1 - lam) * w[y_partner]).sum()

    def on_train_epoch_start(self) -> None:
        """Freeze or unfreeze the backbone for this epoch (`module.freeze_backbone_epochs`)."""
        self.finetuning.freeze_for_epoch(self.net, self.current_epoch)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        """One optimisation step; metrics accumulate on the device and are read once per epoch."""
        loss, logits, y = self._step(batch)
        # Kept on the device and given to torchmetrics once per epoch: their update reads values on the host
        # (NaN check, bincount), a GPU synchronisation every step (tests/test_host_reads.py).
        self._train_outputs.append((logits.argmax(dim=1), y, loss.detach() * len(y)))
        self._track_nonfinite(loss)
        return loss

    def _flush_train_outputs(self) -> None:
        if self._train_outputs:
            preds, targets, loss_sums = zip(*self._train_outputs, strict=True)
            self._train_outputs = []
            targets = torch.cat(targets)
            self.train_metrics.update(torch.cat(preds), targets)
            self.train_loss.update(torch.stack(loss_sums).sum() / len(targets), weight=len(targets))

    def _track_nonfinite(self, loss: torch.Tensor) -> None:
        """Remember the first step whose loss is not finite, on the device (no host sync per step)."""
        first = self._first_nonfinite_step
        if first is None or first.device != loss.device:
            first = torch.full((), -1, dtype=torch.long, device=loss.device)
        step = torch.full((), self.global_step, dtype=torch.long, device=loss.device)
        self._first_nonfinite_step = torch.where((first < 0) & ~torch.isfinite(loss.detach()), step, first)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        """Every few steps, read the non-finite flag on the host and stop the run if it is set."""
        if (batch_idx + 1) % self.nonfinite_check_every == 0:
            self._raise_if_nonfinite()

    def _raise_if_nonfinite(self) -> None:
        first = self._first_nonfinite_step
        if first is not None and int(first) >= 0:
            raise NonFiniteLossError(
                f"non-finite training loss at epoch {self.current_epoch}, step {int(first)}; lower optimizer.lr "
                "or check the data; the run stops here"
            )

    def epoch_train_metrics(self) -> dict[str, torch.Tensor]:
        """The current epoch's training loss and metrics (read by callbacks before they are reset)."""
        self._flush_train_outputs()
        return {"train/loss": self.train_loss.compute(), **self.train_metrics.compute()}

    def on_train_epoch_end(self) -> None:
        """Log the epoch's training metrics."""
        self._raise_if_nonfinite()
        values = self.epoch_train_metrics()
        loss = values.pop("train/loss")
        self.log_dict(values)
        self.log("train/loss", loss, prog_bar=True)
        self.train_metrics.reset()
        self.train_loss.reset()
        self._plan_time_budget()

    def _planned_schedule(self) -> PlannedSchedule | None:
        configs = self.trainer.lr_scheduler_configs
        scheduler = configs[0].scheduler if configs else None
        return scheduler if isinstance(scheduler, PlannedSchedule) else None

    def _plan_time_budget(self) -> None:
        """With trainer.max_time, plan the schedule and the run for the epochs that fit the budget."""
        timer = next((c for c in self.trainer.callbacks if isinstance(c, Timer)), None)
        scheduler = self._planned_schedule()
        if timer is None or scheduler is None or timer.time_remaining() is None:
            return
        elapsed = timer.time_elapsed()
        epochs = scheduler.plan_for_budget(elapsed, elapsed + timer.time_remaining(), self.current_epoch + 1)
        self.trainer.fit_loop.max_epochs = epochs

    def on_train_start(self) -> None:
        """A resumed time-budgeted run keeps the number of epochs its schedule was planned for."""
        scheduler = self._planned_schedule()
        if scheduler is not None and scheduler.budgeted:
            self.trainer.fit_loop.max_epochs = scheduler.planned_epochs

    def validation_step(self, batch, batch_idx: int) -> None:
        """Accumulate validation loss, metrics and the confusion matrix."""
        loss, logits, y = self._step(batch)
        self.val_metrics.update(logits, y)
        self.val_confusion.update(logits, y)
        # sync_dist: the loss is averaged over ranks once per epoch (torchmetrics sync the rest themselves)
        self.log(
            "val/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y), sync_dist=True
        )

    def on_validation_epoch_end(self) -> None:
        """Log validation metrics and the best validation accuracy so far."""
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        acc = values.pop("val/acc")
        self.log_dict(values)
        self.log("val/acc", acc, prog_bar=True)
        if not self.trainer.sanity_checking:
            self.val_acc_best.update(acc)
        self.log("val/acc_best", self.val_acc_best.compute() if self.val_acc_best.update_called else acc)
        self.last_val_confusion = self.val_confusion.compute().cpu()
        self.val_confusion.reset()

    def test_step(self, batch, batch_idx: int) -> None:
        """Accumulate test loss, metrics and the confusion matrix."""
        loss, logits, y = self._step(batch)
        self.test_metrics.update(logits, y)
        self.test_confusion.update(logits, y)
        self.log("test/loss", loss, on_step=False, on_epoch=True, batch_size=len(y), sync_dist=True)

    def on_test_epoch_end(self) -> None:
        """Log test metrics."""
        self.log_dict(self.test_metrics.compute())
        self.test_metrics.reset()
        self.last_test_confusion = self.test_confusion.compute().cpu()
        self.test_confusion.reset()

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        """Class probabilities for a batch."""
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return self(x).float().softmax(dim=1)

    def configure_optimizers(self) -> Any:
        """Build the optimizer from its partial config and attach the scheduler, if any."""
        optimizer = self.finetuning.make_optimizer(self.optimizer_factory, self.net, self.decay_norm_and_bias)
        cfg = self.scheduler_cfg
        if not cfg or cfg.get("scheduler") is None:
            return optimizer
        interval = cfg.get("interval", "epoch")
        scheduler = build_scheduler(cfg["scheduler"], optimizer, self._trainer, interval)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "monitor": cfg.get("monitor", "val/acc"),
                "interval": interval,
                "frequency": cfg.get("frequency", 1),
            },
        }
