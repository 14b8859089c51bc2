"""The CUDA path: AMP steps with channels-last, data resident on the GPU, no host round trip inside a training
step, exact resume after a kill, eval/export/predict of a CUDA checkpoint, no memory growth over epochs.

Every test here skips without a CUDA GPU; `make gpu-check` runs them (`pytest -m gpu tests/test_gpu.py`).
Resume on the GPU is compared with `deterministic=true trainer.benchmark=false`: cuDNN then picks deterministic
kernels, so the resumed run is expected to match the uninterrupted one exactly; the test allows 1e-5 on each metric
for float reductions whose order a kernel may still choose.
"""

from __future__ import annotations

import csv
import inspect
import json
import warnings
from pathlib import Path

import cv2
import pytest
import pytorch_lightning as pl
import torch
from conftest import FAST, REPO, compose_config, run_cli
from test_reliability import SMALL

from fer_lightning.bench.train_loop import fit_only_trainer
from fer_lightning.build import build_datamodule, build_module, build_net
from fer_lightning.callbacks.cuda_memory import CudaMemoryLog
from fer_lightning.data import loader as loader_module
from fer_lightning.eval import evaluate
from fer_lightning.export import export
from fer_lightning.module.classifier import FERClassifier
from fer_lightning.predict import predict
from fer_lightning.train import train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

GPU = [*FAST, "trainer=gpu", "trainer.accelerator=gpu", "channels_last=true"]
AMP = ["16-mixed", "bf16-mixed"]


def _needs_precision(precision: str) -> None:
    if precision.startswith("bf16") and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")


def _fit(cfg, precision: str, callbacks: list, max_steps: int = 8, **trainer_kwargs):
    dm = build_datamodule(cfg)
    dm.setup()
    module = build_module(cfg, dm, build_net(cfg))
    trainer = fit_only_trainer(
        accelerator="gpu",
        devices=1,
        precision=precision,
        max_steps=max_steps,
        callbacks=callbacks,
        **trainer_kwargs,
    )
    trainer.fit(module, datamodule=dm)
    return dm, module


class BatchProbe(pl.Callback):
    """Asserts where each training batch lives and records the dtype the first convolution computes in."""

    def __init__(self) -> None:
        self.batches = 0
        self.conv_dtypes: set[torch.dtype] = set()
        self.loss_dtypes: set[torch.dtype] = set()

    def on_fit_start(self, trainer, pl_module) -> None:
        self.initial = [p.detach().clone() for p in pl_module.net.parameters()]
        conv = next(m for m in pl_module.modules() if isinstance(m, torch.nn.Conv2d))
        conv.register_forward_hook(lambda mod, inp, out: self.conv_dtypes.add(out.dtype))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        x, y = batch
        assert x.device.type == "cuda" and y.device.type == "cuda"
        assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
        split = trainer.datamodule.splits["train"]
        assert split.images.device.type == "cuda" and split.labels.device.type == "cuda"
        self.batches += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.loss_dtypes.add(outputs["loss"].dtype)


@pytest.mark.parametrize("precision", AMP)
def test_amp_steps_with_channels_last_keep_data_and_batches_on_the_gpu(train_cfg, precision):
    _needs_precision(precision)
    probe = BatchProbe()
    cfg = train_cfg(*GPU, "augment=dinh_gray")
    dm, module = _fit(cfg, precision, [probe])
    assert probe.batches == 8
    assert probe.conv_dtypes == {torch.float16 if precision == "16-mixed" else torch.bfloat16}
    assert probe.loss_dtypes == {torch.float32}  # the loss is taken in fp32 from the low-precision logits
    params = list(module.net.parameters())
    assert all(p.device.type == "cuda" and p.dtype == torch.float32 for p in params)  # fp32 master weights
    assert all(torch.isfinite(p).all() for p in params)
    assert any(not torch.equal(p.cpu(), b.cpu()) for p, b in zip(params, probe.initial, strict=True))
    conv = next(p for p in params if p.ndim == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)


def _allowed_sync_sites(precision: str) -> list[tuple[str, range]]:
    """The documented host reads: the non-finite check every 20 steps, the epoch's shuffle order moved to the
    GPU once when the epoch starts, and (16-mixed only) GradScaler reading its found-inf flag."""

    def lines_of(func) -> tuple[str, range]:
        source, first = inspect.getsourcelines(func)
        return inspect.getsourcefile(func), range(first, first + len(source))

    sites = [lines_of(FERClassifier._raise_if_nonfinite), lines_of(loader_module.TensorBatchLoader.__iter__)]
    if precision == "16-mixed":
        sites.append((str(Path(torch.amp.grad_scaler.__file__)), range(1, 10**6)))
    return sites


class SyncRecorder(pl.Callback):
    """Turns CUDA's sync debug mode to 'warn' for the whole training epoch (data fetch, augmentation, step)."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("warn")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("precision", ["32-true", *AMP])
def test_a_training_step_does_not_synchronise_with_the_host(train_cfg, precision):
    _needs_precision(precision)
    cfg = train_cfg(*GPU, "augment=dinh_gray", "data.n_train=2560")  # 40 steps: the check reads twice
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _fit(cfg, precision, [SyncRecorder()], max_steps=40)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    allowed = _allowed_sync_sites(precision)
    unexpected: dict[str, int] = {}
    for w in syncs:
        if not any(w.filename == path and w.lineno in lines for path, lines in allowed):
            where = f"{w.filename}:{w.lineno}"
            unexpected[where] = unexpected.get(where, 0) + 1
    assert not unexpected, f"host synchronisations inside training steps ({precision}): {unexpected}"
    assert syncs, "sync debug mode recorded nothing at all: the non-finite check should have read twice"


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]


def test_resume_after_a_kill_on_the_gpu_matches_the_uninterrupted_run(tmp_path):
    args = [*SMALL, "trainer=gpu", "channels_last=true", "trainer.benchmark=false"]
    inject = {"PYTHONPATH": f"{REPO / 'tests'}:{REPO / 'src'}"}
    full, killed = tmp_path / "full", tmp_path / "killed"
    res = run_cli("fer_lightning.train", *args, f"hydra.run.dir={full}", env=inject)
    assert res.returncode == 0, res.stderr[-2000:]
    res = run_cli(
        "fer_lightning.train",
        *args,
        f"hydra.run.dir={killed}",
        "+callbacks.kill._target_=fault_injection.KillAtStep",
        env={**inject, "FER_KILL_AT_STEP": "15"},  # mid second epoch (10 steps per epoch)
    )
    assert res.returncode == -9, res.stderr[-2000:]
    res = run_cli("fer_lightning.train", f"hydra.run.dir={killed}", "resume=true", env=inject)
    assert res.returncode == 0, res.stderr[-2000:]
    a = json.loads((full / "metrics.json").read_text())
    b = json.loads((killed / "metrics.json").read_text())
    assert b["status"] == "completed" and b["epochs"] == 3
    assert a["metrics"].keys() == b["metrics"].keys()
    for key, value in a["metrics"].items():
        assert b["metrics"][key] == pytest.approx(value, abs=1e-5), key
    wa, wb = _weights(full / "checkpoints" / "last.ckpt"), _weights(killed / "checkpoints" / "last.ckpt")
    for key in wa:
        assert torch.allclose(wa[key].float(), wb[key].float(), atol=1e-5), key


@pytest.fixture(scope="module")
def cuda_run(tmp_path_factory):
    """A short training on the GPU whose checkpoint the tools below load."""
    root = tmp_path_factory.mktemp("cuda_run")
    cfg = compose_config("train", [*GPU, "data.n_train=512", "trainer.max_epochs=2"], root / "run")
    metrics, _ = train(cfg)
    summary = json.loads((root / "run" / "metrics.json").read_text())
    return {"root": root, "ckpt": summary["best_ckpt"], "metrics": metrics}


def test_the_checkpoint_was_written_from_cuda_tensors(cuda_run):
    state = torch.load(cuda_run["ckpt"], weights_only=False)["state_dict"]
    assert {v.device.type for v in state.values()} == {"cuda"}


def test_eval_of_a_cuda_checkpoint_agrees_on_gpu_and_cpu(cuda_run):
    reports = {}
    for device in ("cuda", "cpu"):
        cfg = compose_config(
            "eval", [f"ckpt_path={cuda_run['ckpt']}", f"device={device}"], cuda_run["root"] / f"eval_{device}"
        )
        reports[device] = evaluate(cfg)[1]["report"]
    assert reports["cuda"]["n"] == reports["cpu"]["n"] == 128
    # a different kernel may flip an image whose two top logits tie to within float error
    assert abs(reports["cuda"]["accuracy"] - reports["cpu"]["accuracy"]) <= 2 / 128
    flat, _ = evaluate(
        compose_config(
            "eval", [f"ckpt_path={cuda_run['ckpt']}", "tta=tencrop"], cuda_run["root"] / "eval_tta"
        )
    )
    assert 0.0 <= flat["accuracy"] <= 1.0


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_of_a_cuda_checkpoint_reproduces_its_logits(cuda_run, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="onnx export needs onnx and onnxruntime")
        pytest.importorskip("onnx", reason="onnx export needs onnx and onnxruntime")
    cfg = compose_config("export", [f"ckpt_path={cuda_run['ckpt']}", f"format={fmt}"], cuda_run["root"] / fmt)
    export(cfg)
    record = json.loads((Path(cfg.paths.output_dir) / "export.json").read_text())
    assert record["max_abs_diff"] <= 1e-4 and Path(record["path"]).is_file()


def test_predict_with_a_cuda_checkpoint_on_the_gpu(cuda_run, train_cfg):
    folder = cuda_run["root"] / "faces"
    folder.mkdir(exist_ok=True)
    dm = build_datamodule(train_cfg())
    dm.setup()
    for i in range(3):
        cv2.imwrite(str(folder / f"face{i}.png"), dm.splits["test"].images[i, 0].numpy())
    cfg = compose_config(
        "predict",
        [f"ckpt_path={cuda_run['ckpt']}", f"input={folder}", "detect=false", "device=cuda"],
        cuda_run["root"] / "predict",
    )
    predict(cfg)
    rows = list(csv.DictReader((Path(cfg.paths.output_dir) / "predictions.csv").open()))
    assert len(rows) == 3 and {r["status"] for r in rows} == {"ok"}


def test_cuda_memory_does_not_grow_over_epochs(train_cfg, tmp_path):
    cfg = train_cfg(*GPU, "data.n_train=1024", "augment=dinh_gray")
    log = CudaMemoryLog(str(tmp_path))
    _fit(
        cfg, "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed", [log], max_steps=-1, max_epochs=4
    )
    rows = json.loads((tmp_path / "cuda_memory.json").read_text())
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    # after the first epoch (optimizer state, cuDNN workspaces) the allocation must stay flat
    allocated = [r["allocated_mib"] for r in rows[1:]]
    assert max(allocated) - min(allocated) <= 1.0, allocated
