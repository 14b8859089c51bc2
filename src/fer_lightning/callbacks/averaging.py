"""Weight averaging: an exponential moving average (EMA) or stochastic weight averaging (SWA) of the weights.

Built on Lightning's ``WeightAveraging``: validation runs on the averaged weights, and every checkpoint
(best and last) holds them in ``state_dict`` (the raw weights go to ``current_model_state`` for a resume).
Two changes make it fit this project:

- Testing or evaluating a checkpoint uses its averaged ``state_dict``. Lightning's callback, still alive
  after ``fit``, would restore the raw weights when ``trainer.test(ckpt_path=...)`` loads the best
  checkpoint, so the test metric would not be the one ``eval`` of that checkpoint reproduces.
- Until the average has been updated once (SWA before its start epoch), validation, checkpoints and the
  end of training use the raw weights, not a copy of the initial ones.
- Optionally (``bn_images``), the averaged weights' batch-norm statistics are recomputed from unaugmented
  training faces before each validation, as ``torch.optim.swa_utils.update_bn`` does for SWA: the statistics
  averaged along with the weights were gathered on augmented batches, and the faces scored are not augmented.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EMAWeightAveraging, WeightAveraging
from pytorch_lightning.trainer.states import TrainerFn
from torch.optim.swa_utils import update_bn

from fer_lightning.config_checks import check_positive_int
from fer_lightning.errors import ConfigError


class _AveragingFixes(WeightAveraging):
    """The project's changes to Lightning's weight averaging (see the module docstring)."""

    _swapped = False
    bn_images: int | None = None

    def _set_bn_images(self, key: str, bn_images: int | None) -> None:
        if bn_images is not None:
            check_positive_int(key, bn_images, ", or null to keep the averaged statistics")
        self.bn_images = bn_images

    def _has_average(self) -> bool:
        return self._average_model is not None and int(self._average_model.n_averaged) > 0

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Refuse a second averaging callback, then build the averaged copy for fit."""
        others = [c for c in trainer.callbacks if isinstance(c, WeightAveraging) and c is not self]
        if others:
            raise ConfigError(
                "callbacks: choose one weight averaging, ema or swa (both were given: "
                f"{type(self).__name__} and {type(others[0]).__name__})"
            )
        if self.bn_images is not None and not callable(getattr(trainer.datamodule, "model_inputs", None)):
            raise ConfigError(
                f"callbacks: {type(self).__name__}(bn_images={self.bn_images}) recomputes batch-norm statistics "
                "from training faces and needs a fer_lightning DataModule (data=...); set bn_images to null"
            )
        super().setup(trainer, pl_module, stage)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Validate on the averaged weights once there are any (with their batch-norm statistics recomputed
        from `bn_images` unaugmented training faces when that is set)."""
        self._swapped = self._has_average()
        if self._swapped:
            self._swap_models(pl_module)
            if self.bn_images is not None and not trainer.sanity_checking:
                batches = trainer.datamodule.model_inputs("train", limit=self.bn_images)
                with trainer.precision_plugin.forward_context():
                    # torch's update_bn: running statistics reset, then the plain mean over the batches
                    update_bn(batches, pl_module)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Put the raw weights back for training."""
        if self._swapped:
            self._swap_models(pl_module)
            self._swapped = False

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Leave the averaged weights in the module (when there are any)."""
        if self._has_average():
            self._copy_average_to_current(pl_module)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Store the averaged weights as the checkpoint's weights (the raw ones before any average)."""
        if self._average_model is None or self._has_average():
            super().on_save_checkpoint(trainer, pl_module, checkpoint)

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """On resume restore raw and averaged weights; for test, keep the averaged weights just loaded."""
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)


def ema_update_fn(decay: float, warmup: bool) -> Callable[[list, list, torch.Tensor], None]:
    """The EMA step for :class:`torch.optim.swa_utils.AveragedModel` (its ``multi_avg_fn``), with an optional warm-up.

    With ``warmup`` the decay of the n-th update is ``min(decay, (1 + n) / (10 + n))``: the average follows the
    fast-moving early weights closely and only slowly settles to ``decay``. Without it, an EMA of decay 0.998 is
    still dominated by the initial weights (and their batch-norm statistics) ~1,000 steps in: measured on FER2013,
    validation on the average stayed at chance for the first 4 of 13 epochs of `experiment=fer2013_fast`.
    The decay is computed on the device from the update counter, so no value is read back to the host per step.
    """

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        if not torch.is_floating_point(averaged[0]):
            # integer buffers (batch norm's step counter) are counts, not weights: follow the model
            torch._foreach_copy_(averaged, current)
            return
        if warmup:
            step_decay = ((1.0 + n_averaged) / (10.0 + n_averaged)).clamp(max=decay).to(averaged[0].dtype)
            torch._foreach_lerp_(averaged, current, 1.0 - step_decay)
        else:
            torch._foreach_lerp_(averaged, current, 1.0 - decay)

    return update


class EMA(_AveragingFixes, EMAWeightAveraging):
    """Exponential moving average of the weights (and batch-norm statistics), updated every ``every_n_steps`` steps.

    Args:
        decay: weight of the old average per optimizer step; 0.999 averages over roughly the last 1,000 steps.
        update_starting_at_step: first optimizer step that updates the average (None: the first).
        warmup: ramp the decay up from 0.18 as ``(1 + n) / (10 + n)`` over the first updates (see
            :func:`ema_update_fn`), so that the average is usable from the first epoch.
        every_n_steps: update the average after every n-th optimizer step only, with the decay ``decay ** n``
            per update, so that it spans the same number of steps. An update reads and writes every weight:
            measured at ~10 % of an epoch of `model=fast_resnet` on a 2-core CPU; n > 1 divides that cost by n.
        bn_images: before each validation, recompute the averaged weights' batch-norm statistics from the first
            `bn_images` unaugmented training faces (one forward pass over them); None keeps the statistics
            averaged along with the weights, which were gathered on augmented batches.
    """

    def __init__(
        self,
        decay: float = 0.999,
        update_starting_at_step: int | None = None,
        warmup: bool = True,
        every_n_steps: int = 1,
        bn_images: int | None = None,
    ) -> None:
        self._set_bn_images("callbacks.ema.bn_images", bn_images)
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"callbacks.ema.decay={decay} must lie in (0, 1)")
        check_positive_int("callbacks.ema.every_n_steps", every_n_steps)
        # Lightning's EMA __init__ always passes its own avg_fn and AveragedModel takes only one of avg_fn and
        # multi_avg_fn: set up the base class with ours, then the attributes EMAWeightAveraging.should_update reads.
        WeightAveraging.__init__(self, multi_avg_fn=ema_update_fn(decay**every_n_steps, warmup))
        self.update_every_n_steps = every_n_steps
        self.update_starting_at_step = update_starting_at_step
        self.update_starting_at_epoch = None
        self.decay = decay
        self.warmup = warmup


class SWA(_AveragingFixes):
    """Stochastic weight averaging: the equal average of the weights at the end of each epoch from ``start_epoch``.

    Args:
        start_epoch: the first epoch averaged: a fraction (< 1) of the epochs planned (``trainer.max_epochs``,
            or the epochs a time budget allows), or an epoch number (>= 1).
        bn_images: as for :class:`EMA`: recompute the averaged weights' batch-norm statistics from this many
            unaugmented training faces before each validation (``torch.optim.swa_utils.update_bn``'s practice).
    """

    def __init__(self, start_epoch: float = 0.75, bn_images: int | None = None) -> None:
        if start_epoch < 0:
            raise ConfigError(f"callbacks.swa.start_epoch={start_epoch} must be >= 0")
        super().__init__()
        self._set_bn_images("callbacks.swa.bn_images", bn_images)
        self.start_epoch = start_epoch

    def first_epoch(self, trainer: pl.Trainer) -> int:
        """The first epoch averaged, for the epochs now planned."""
        if self.start_epoch < 1:
            return min(trainer.max_epochs - 1, math.floor(self.start_epoch * trainer.max_epochs))
        return int(self.start_epoch)

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        """Updates come from :meth:`on_train_batch_end` only."""
        return False

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Average the weights after an epoch's last batch, so that epoch's validation already sees them."""
        last = trainer.fit_loop.epoch_loop.batch_progress.is_last_batch
        if last and trainer.current_epoch >= self.first_epoch(trainer) and self._average_model is not None:
            self._average_model.update_parameters(pl_module)
            self._latest_update_step = trainer.global_step
