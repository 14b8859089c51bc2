"""Per-step learning-rate schedules given in epochs, re-planned to the epochs that fit a time budget.

``scheduler=onecycle`` and ``scheduler=warmup_cosine`` are :class:`PlannedSchedule` subclasses: their
shape is written in epochs, they are stepped after every optimizer step, and the number of steps per
epoch comes from the data when the optimizer is configured. With ``trainer.max_time`` set, the
classifier calls :meth:`PlannedSchedule.plan_for_budget` after every epoch, so the schedule ends (and
the run stops) at the last epoch that fits the budget.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch.optim.lr_scheduler import LRScheduler

from fer_lightning.errors import ConfigError


def planned_epochs_within(
    elapsed: float, budget: float, epoch_seconds: float, epochs_done: int, max_epochs: int
) -> int:
    """The epochs done plus as many more of ``epoch_seconds`` as the rest of the budget holds, at most ``max_epochs``."""
    more = int((budget - elapsed) // epoch_seconds) if epoch_seconds > 0 else max_epochs
    return max(epochs_done, min(max_epochs, epochs_done + max(0, more)))


class PlannedSchedule(LRScheduler):
    """A learning-rate factor as a function of (step, planned steps), multiplied into each group's lr.

    Args:
        optimizer: the optimizer whose ``lr`` is the schedule's peak (factor 1).
        steps_per_epoch: optimizer steps per epoch (set by the classifier from the data).
        total_epochs: epochs planned (``trainer.max_epochs``); :meth:`plan_for_budget` may lower it.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, steps_per_epoch: int, total_epochs: int, last_epoch: int = -1
    ) -> None:
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.max_epochs = int(total_epochs)
        self.planned_epochs = int(total_epochs)
        self.budgeted = False
        self.epoch_seconds: list[float] = []  # wall time of each epoch, kept in the state for a resume
        super().__init__(optimizer, last_epoch)

    @property
    def total_steps(self) -> int:
        """Optimizer steps the schedule is planned for."""
        return self.planned_epochs * self.steps_per_epoch

    def factor(self, step: int) -> float:
        """The lr multiplier at 0-based optimizer step ``step``."""
        raise NotImplementedError

    def _lrs(self) -> list[float]:
        f = self.factor(self.last_epoch)
        return [base * f for base in self.base_lrs]

    def get_lr(self) -> list[float]:
        """Each group's lr at the current step."""
        return self._lrs()

    def plan_for_budget(self, elapsed: float, budget: float, epochs_done: int) -> int:
        """Re-plan for the epochs that fit ``budget`` seconds, from the time used so far; returns the epochs planned.

        An epoch is taken to last as long as the longest one after the first (the first also pays for
        start-up), or as the first while it is the only one.
        """
        previous = sum(self.epoch_seconds)
        self.epoch_seconds.append(max(0.0, elapsed - previous))
        estimate = max(self.epoch_seconds[1:]) if len(self.epoch_seconds) > 1 else self.epoch_seconds[0]
        self.planned_epochs = planned_epochs_within(elapsed, budget, estimate, epochs_done, self.max_epochs)
        self.budgeted = True
        # The next step already runs under the new plan.
        for group, lr in zip(self.optimizer.param_groups, self._lrs(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
        return self.planned_epochs


def _cos(start: float, end: float, pct: float) -> float:
    """Cosine from ``start`` (pct 0) to ``end`` (pct 1)."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * min(max(pct, 0.0), 1.0)) + 1.0)


class WarmupCosine(PlannedSchedule):
    """Linear warm-up over ``warmup_epochs`` from ``warmup_start_factor`` x lr to lr, then a cosine down to
    ``final_factor`` x lr, reached at the last planned step."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        steps_per_epoch: int,
        total_epochs: int,
        warmup_epochs: float = 1.0,
        warmup_start_factor: float = 0.01,
        final_factor: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if warmup_epochs < 0:
            raise ConfigError(f"scheduler.scheduler.warmup_epochs={warmup_epochs} must be >= 0")
        for key, value in (("warmup_start_factor", warmup_start_factor), ("final_factor", final_factor)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"scheduler.scheduler.{key}={value} must lie in [0, 1]")
        self.warmup_steps = round(warmup_epochs * max(1, int(steps_per_epoch)))
        self.warmup_start_factor = float(warmup_start_factor)
        self.final_factor = float(final_factor)
        super().__init__(optimizer, steps_per_epoch, total_epochs, last_epoch)

    def factor(self, step: int) -> float:
        """Warm-up factor, then cosine factor."""
        w = self.warmup_steps
        if step < w:
            return self.warmup_start_factor + (1.0 - self.warmup_start_factor) * step / w
        return _cos(1.0, self.final_factor, (step - w) / max(1, self.total_steps - 1 - w))


class OneCycle(PlannedSchedule):
    """torch's OneCycleLR (cosine, two phases) with the optimizer's lr as the peak: from lr / div_factor up to lr
    over ``pct_start`` of the planned steps, then down to lr / (div_factor * final_div_factor) at the last step.
    Momentum is not cycled."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        steps_per_epoch: int,
        total_epochs: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        last_epoch: int = -1,
    ) -> None:
        if not 0.0 < pct_start < 1.0:
            raise ConfigError(f"scheduler.scheduler.pct_start={pct_start} must lie in (0, 1)")
        for key, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if value < 1.0:
                raise ConfigError(f"scheduler.scheduler.{key}={value} must be >= 1")
        self.pct_start = float(pct_start)
        self.initial_factor = 1.0 / float(div_factor)
        self.final_factor = self.initial_factor / float(final_div_factor)
        super().__init__(optimizer, steps_per_epoch, total_epochs, last_epoch)

    def factor(self, step: int) -> float:
        """Cosine up to the peak, then cosine down (phase ends as in torch's OneCycleLR)."""
        up_end = self.pct_start * self.total_steps - 1
        if step <= up_end:
            return _cos(self.initial_factor, 1.0, step / up_end) if up_end > 0 else 1.0
        return _cos(1.0, self.final_factor, (step - up_end) / max(1e-9, self.total_steps - 1 - up_end))


def build_scheduler(
    factory: Callable[..., LRScheduler],
    optimizer: torch.optim.Optimizer,
    trainer: pl.Trainer | None,
    interval: str,
) -> LRScheduler:
    """Instantiate a scheduler partial; a :class:`PlannedSchedule` also gets the steps per epoch and epochs."""
    func = factory.func if isinstance(factory, functools.partial) else factory
    if not (isinstance(func, type) and issubclass(func, PlannedSchedule)):
        return factory(optimizer=optimizer)
    if interval != "step":
        raise ConfigError(
            f"scheduler.interval={interval!r}: {func.__name__} is stepped per batch; use interval: step"
        )
    if trainer is None:
        raise ConfigError(f"{func.__name__} needs a Trainer to know the steps per epoch")
    max_epochs = trainer.max_epochs
    if max_epochs is None or max_epochs < 1:
        raise ConfigError(
            f"trainer.max_epochs={max_epochs}: {func.__name__} is planned in epochs; give a positive trainer.max_epochs "
            "(with trainer.max_time it is the most the budget may use)"
        )
    _ = trainer.estimated_stepping_batches  # makes the trainer size the training data
    steps_per_epoch = math.ceil(trainer.num_training_batches / trainer.accumulate_grad_batches)
    return factory(optimizer=optimizer, steps_per_epoch=steps_per_epoch, total_epochs=max_epochs)
