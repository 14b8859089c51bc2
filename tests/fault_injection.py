"""Callbacks that break a run on purpose, for the reliability tests (importable by subprocesses via PYTHONPATH)."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl
import torch


class KillAtStep(pl.Callback):
    """SIGKILL this process after global step $FER_KILL_AT_STEP: no cleanup, no final checkpoint, like a preemption.

    The step comes from the environment, so the resumed process (same saved config) is not killed again.
    """

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        step = os.environ.get("FER_KILL_AT_STEP")
        if step is not None and trainer.global_step >= int(step):
            os.kill(os.getpid(), signal.SIGKILL)


class PoisonWeights(pl.Callback):
    """Fill the first parameter with NaN before the given step, so the loss becomes non-finite."""

    def __init__(self, step: int, enabled: bool = True) -> None:
        self.step = int(step)
        self.enabled = bool(enabled)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self.enabled and trainer.global_step == self.step:
            with torch.no_grad():
                next(pl_module.parameters()).fill_(float("nan"))
