"""Per-step schedules given in epochs (warm-up + cosine, one-cycle) and the time budget that re-plans them."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch

from fer_lightning.errors import ConfigError
from fer_lightning.module.schedules import OneCycle, WarmupCosine, planned_epochs_within
from fer_lightning.train import train


class LrRecorder(pl.Callback):
    """Records the learning rate each optimizer step runs with."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def _optimizer(lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _run(scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> list[float]:
    lrs = []
    for _ in range(steps):
        lrs.append(scheduler.optimizer.param_groups[0]["lr"])
        scheduler.optimizer.step()
        scheduler.step()
    return lrs


def expected_warmup_cosine(
    step: int, warmup: int, total: int, lr: float, start: float, final: float
) -> float:
    """The schedule written out by hand: linear warm-up, then cosine to final at the last step."""
    if step < warmup:
        return lr * (start + (1 - start) * step / warmup)
    pct = (step - warmup) / (total - 1 - warmup)
    return lr * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * pct)))


def test_warmup_cosine_follows_its_formula() -> None:
    sched = WarmupCosine(_optimizer(), steps_per_epoch=4, total_epochs=5, warmup_epochs=1.5, final_factor=0.1)
    lrs = _run(sched, 20)
    assert lrs == pytest.approx([expected_warmup_cosine(s, 6, 20, 0.1, 0.01, 0.1) for s in range(20)])
    assert lrs[0] == pytest.approx(0.001) and lrs[6] == pytest.approx(0.1) and lrs[-1] == pytest.approx(0.01)


def test_onecycle_matches_torch_onecycle() -> None:
    ours = _run(OneCycle(_optimizer(), steps_per_epoch=7, total_epochs=3), 21)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        _optimizer(), max_lr=0.1, total_steps=21, cycle_momentum=False
    )
    assert ours == pytest.approx(_run(reference, 21), rel=1e-6)


def test_bad_schedule_values_name_the_key() -> None:
    with pytest.raises(ConfigError, match="pct_start"):
        OneCycle(_optimizer(), 4, 2, pct_start=1.5)
    with pytest.raises(ConfigError, match="warmup_epochs"):
        WarmupCosine(_optimizer(), 4, 2, warmup_epochs=-1)


def test_planned_epochs_fit_the_budget() -> None:
    assert planned_epochs_within(elapsed=10, budget=100, epoch_seconds=10, epochs_done=1, max_epochs=50) == 10
    assert planned_epochs_within(elapsed=10, budget=100, epoch_seconds=10, epochs_done=1, max_epochs=4) == 4
    assert planned_epochs_within(elapsed=99, budget=100, epoch_seconds=10, epochs_done=3, max_epochs=50) == 3


def test_warmup_cosine_is_stepped_per_batch_in_training(train_cfg) -> None:
    cfg = train_cfg(
        "scheduler=warmup_cosine",
        "scheduler.scheduler.final_factor=0.1",
        "optimizer.lr=0.01",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=3",
        "+callbacks.lr_record._target_=test_schedules.LrRecorder",
        "test=false",
    )
    _, objects = train(cfg)
    recorder = next(c for c in objects["trainer"].callbacks if isinstance(c, LrRecorder))
    assert recorder.lrs == pytest.approx([expected_warmup_cosine(s, 3, 6, 0.01, 0.01, 0.1) for s in range(6)])


class FakeClock:
    """A monotonic clock that advances one second per training batch (installed into Lightning's Timer)."""

    now = 0.0

    @classmethod
    def monotonic(cls) -> float:
        return cls.now


class Tick(pl.Callback):
    """Advances the fake clock by one second after every training batch."""

    def on_train_batch_end(self, *args, **kwargs) -> None:
        FakeClock.now += 1.0


def test_time_budget_plans_the_schedule_to_end_at_the_budget(train_cfg, monkeypatch) -> None:
    monkeypatch.setattr(pl.callbacks.timer, "time", FakeClock)
    cfg = train_cfg(
        "scheduler=warmup_cosine",
        "scheduler.scheduler.final_factor=0.1",
        "optimizer.lr=0.01",
        "trainer.max_epochs=50",
        "trainer.max_time=00:00:00:09",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
        "callbacks.figures=null",
        "+callbacks.lr_record._target_=test_schedules.LrRecorder",
        "+callbacks.tick._target_=test_schedules.Tick",
        "test=false",
    )
    _, objects = train(cfg)
    trainer = objects["trainer"]
    recorder = next(c for c in trainer.callbacks if isinstance(c, LrRecorder))
    # 2 s per epoch and 9 s of budget: 4 epochs fit, of the 50 allowed; the run ends there, the schedule with it
    assert trainer.current_epoch == 4 and len(recorder.lrs) == 8
    assert recorder.lrs == pytest.approx([expected_warmup_cosine(s, 2, 8, 0.01, 0.01, 0.1) for s in range(8)])
    assert recorder.lrs[-1] == pytest.approx(0.001)  # the final lr on the last step
