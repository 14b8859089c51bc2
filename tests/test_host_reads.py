"""A training epoch reads no tensor value on the host: on a GPU each such read is a device synchronisation.

Runs on the CPU: a dispatch mode records every operator that hands a tensor's value to the host (`.item()`,
`bool(t)`, `nonzero`, `unique`, `bincount`, ...) from the start of a training epoch to its end, the data fetch and
augmentation included. The optimizer's step counters are CPU tensors on every device and are not counted; the
non-finite-loss check every 20 steps is the one documented read. `tests/test_gpu.py` checks the same with CUDA's
own sync debug mode, which also sees host-to-device copies.
"""

from __future__ import annotations

import inspect
import traceback
from collections import Counter

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torchmetrics import MeanMetric

from fer_lightning.bench.train_loop import fit_only_trainer
from fer_lightning.build import build_datamodule, build_module, build_net
from fer_lightning.module.classifier import FERClassifier, _metrics

HOST_READS = {
    "aten::_local_scalar_dense",
    "aten::is_nonzero",
    "aten::equal",
    "aten::nonzero",
    "aten::masked_select",
    "aten::_unique2",
    "aten::unique_dim",
    "aten::unique_consecutive",
    "aten::bincount",
    "aten::histc",
    "aten::repeat_interleave",
}


class HostReads(TorchDispatchMode):
    """Counts host reads by operator and the innermost project or library frame that asked for them."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        if name in HOST_READS:
            frames = traceback.extract_stack()[:-1]
            # torch.optim reads its per-parameter step counters, which live on the CPU on every device.
            if not any("/torch/optim/" in f.filename for f in frames):
                self.reads[f"{name} at {_where(frames)}"] += 1
        return func(*args, **(kwargs or {}))


def _where(frames) -> str:
    nonfinite_lines = _lines(FERClassifier._raise_if_nonfinite)
    for frame in reversed(frames):
        if frame.filename == nonfinite_lines[0] and frame.lineno in nonfinite_lines[1]:
            return "the non-finite check"
    interesting = [f for f in frames if "site-packages/torch/" not in f.filename]
    frame = interesting[-1] if interesting else frames[-1]
    return f"{frame.filename.split('site-packages/')[-1].split('/src/')[-1]}:{frame.lineno}"


def _lines(func) -> tuple[str, range]:
    source, first = inspect.getsourcelines(func)
    return inspect.getsourcefile(func), range(first, first + len(source))


class Audit(pl.Callback):
    """Records host reads from the start of each training epoch until its callbacks' end."""

    def __init__(self) -> None:
        self.mode: HostReads | None = None
        self.reads: Counter[str] = Counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.mode = HostReads()
        self.mode.__enter__()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.mode.__exit__(None, None, None)
        self.reads += self.mode.reads


def test_a_training_epoch_reads_no_value_on_the_host(train_cfg):
    cfg = train_cfg("augment=standard", "data.n_train=320", "data.batch_size=16", "channels_last=true")
    dm = build_datamodule(cfg)
    dm.setup()
    module = build_module(cfg, dm, build_net(cfg))
    module.nonfinite_check_every = 10  # 20 steps: the check reads twice
    audit = Audit()
    trainer = fit_only_trainer(accelerator="cpu", max_epochs=1, callbacks=[audit])
    trainer.fit(module, datamodule=dm)
    reads = dict(audit.reads)
    assert reads.pop("aten::_local_scalar_dense at the non-finite check", 0) == 2  # steps 10 and 20
    assert not reads, f"host reads inside a training epoch (each a GPU sync): {reads}"


def test_train_metrics_given_once_per_epoch_equal_per_step_updates():
    torch.manual_seed(0)
    module = FERClassifier(nn.Sequential(nn.Flatten(), nn.Linear(16, 7)), optimizer=None, num_classes=7)
    expected_metrics, expected_loss = _metrics(7, "train/"), MeanMetric()
    for n in (5, 8, 3):  # uneven batches: the epoch loss is weighted by batch size
        x, y = torch.randn(n, 1, 4, 4), torch.randint(0, 7, (n,))
        loss = module.training_step((x, y), 0)
        logits = module(x)
        expected_metrics.update(logits, y)
        expected_loss.update(nn.functional.cross_entropy(logits, y), weight=n)
        assert float(loss) == pytest.approx(float(nn.functional.cross_entropy(logits, y)))
    got = module.epoch_train_metrics()
    want = {"train/loss": expected_loss.compute(), **expected_metrics.compute()}
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert float(got[key]) == pytest.approx(float(value), abs=1e-6), key
    assert module.epoch_train_metrics()["train/acc"] == got["train/acc"]  # a second read changes nothing
