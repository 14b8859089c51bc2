"""Training end to end on synthetic faces: learning, run-dir contents, train -> eval, CLI, multirun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from fer_lightning.eval import evaluate
from fer_lightning.train import train


def test_train_writes_run_dir(train_cfg):
    cfg = train_cfg("trainer.max_epochs=2")
    metrics, objects = train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["status"] == "completed"
    assert summary["epochs"] == 2
    assert summary["params"] > 0
    for key in (
        "train/acc",
        "val/acc",
        "val/acc_best",
        "val/f1",
        "test/acc",
        "test/precision",
        "test/recall",
        "test/f1",
    ):
        assert key in summary["metrics"], key
        assert 0.0 <= summary["metrics"][key] <= 1.0
    assert (run_dir / "config.yaml").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert Path(summary["best_ckpt"]).is_file()
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    history = json.loads((run_dir / "epoch_metrics.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]
    assert all("train/loss" in h and "val/acc" in h and h["seconds"] > 0 for h in history)
    # best-so-far is the running max of the per-epoch validation accuracy
    assert summary["metrics"]["val/acc_best"] == pytest.approx(max(h["val/acc"] for h in history))


@pytest.mark.slow
def test_sequential_learns_synthetic_faces(train_cfg):
    cfg = train_cfg(
        "data.n_train=3000", "data.n_val=500", "data.n_test=500", "trainer.max_epochs=4", "optimizer.lr=3e-3"
    )
    metrics, _ = train(cfg)
    # 7 balanced classes: chance is ~14%
    assert metrics["val/acc_best"] > 0.6, metrics
    assert metrics["test/acc"] > 0.55, metrics


def test_run_dir_is_never_reused(train_cfg):
    cfg = train_cfg("trainer.max_epochs=1")
    train(cfg)
    from fer_lightning.errors import ConfigError

    with pytest.raises(ConfigError, match="never overwritten"):
        train(cfg)


def test_train_then_eval_from_checkpoint(train_cfg, tmp_path):
    cfg = train_cfg("trainer.max_epochs=1")
    metrics, _ = train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    best = json.loads((run_dir / "metrics.json").read_text())["best_ckpt"]
    eval_cfg = train_cfg(f"ckpt_path={best}", fast=False, config_name="eval")
    flat, objects = evaluate(eval_cfg)
    out = Path(eval_cfg.paths.output_dir)
    report = json.loads((out / "metrics.json").read_text())
    # the eval command on the same checkpoint and split reproduces the test accuracy the training logged
    assert report["accuracy"] == pytest.approx(metrics["test/acc"], abs=0.02)
    assert report["n"] == 128
    assert set(report["per_class"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert sum(r["support"] for r in report["per_class"].values()) == 128
    assert (out / "per_class.csv").read_text().splitlines()[0] == "class,precision,recall,f1,support"


def test_cli_train_and_eval(tmp_path):
    res = run_cli(
        "fer_lightning.train",
        "data.n_train=256",
        "data.n_val=64",
        "data.n_test=64",
        "trainer.max_epochs=1",
        "callbacks.progress_bar=null",
        f"paths.log_dir={tmp_path}",
        cwd=tmp_path,  # works from any working directory
    )
    assert res.returncode == 0, res.stderr[-3000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    summary = json.loads((runs[0] / "metrics.json").read_text())
    res = run_cli(
        "fer_lightning.eval", f"ckpt_path={summary['best_ckpt']}", f"paths.log_dir={tmp_path}", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr[-3000:]
    evals = list((tmp_path / "evals").iterdir())
    assert json.loads((evals[0] / "metrics.json").read_text())["n"] == 64


def test_multirun_2x2(tmp_path):
    res = run_cli(
        "fer_lightning.train",
        "--multirun",
        "optimizer=adam,sgd",
        "optimizer.lr=1e-3,1e-4",
        "data.n_train=128",
        "data.n_val=64",
        "data.n_test=64",
        "trainer.max_epochs=1",
        "callbacks.progress_bar=null",
        f"paths.log_dir={tmp_path}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    sweeps = list((tmp_path / "multirun").iterdir())
    assert len(sweeps) == 1
    jobs = sorted(p for p in sweeps[0].iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1", "2", "3"]
    seen = set()
    for job in jobs:
        summary = json.loads((job / "metrics.json").read_text())
        assert summary["status"] == "completed"
        seen.add(tuple(sorted(o for o in summary["overrides"] if o.startswith("optimizer"))))
    assert len(seen) == 4


def test_missing_fer2013_gives_clear_error(tmp_path):
    res = run_cli(
        "fer_lightning.train", "data=fer2013", f"data.root={tmp_path}/nowhere", f"paths.log_dir={tmp_path}"
    )
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert f"{tmp_path}/nowhere" in err
    assert "data=synthetic" in err
    assert "Traceback" not in err


def test_readme_names_the_commands():
    readme = (REPO / "README.md").read_text()
    for command in (
        "make install",
        "make demo",
        "make test",
        "python -m fer_lightning.train",
        "python -m fer_lightning.eval",
    ):
        assert command in readme


MODEL_SHAPES = {
    "sequential": [],
    "inception": [],
    "vgg_fer": [],
    "resnet18": [],
    "paper/athanasopoulos_model7v3": [],
    "paper/dibenedetto_model1": [],
    "paper/dibenedetto_model2": [],
    "paper/dinh_gray": [],
    "paper/kahar": ["data.channels=3", "data.mean=[0.5,0.5,0.5]", "data.std=[0.5,0.5,0.5]"],
    "paper/seed003_newbase": [
        "data.channels=3",
        "data.image_size=224",
        "data.num_classes=8",
        "data.mean=[0.5,0.5,0.5]",
        "data.std=[0.5,0.5,0.5]",
        "data.batch_size=4",
    ],
}


@pytest.mark.parametrize("model", sorted(MODEL_SHAPES))
def test_fast_dev_run_of_every_model(train_cfg, model):
    cfg = train_cfg(
        f"model={model}",
        "debug=fdr",
        "data.n_train=16",
        "data.n_val=8",
        "data.n_test=8",
        *MODEL_SHAPES[model],
    )
    metrics, objects = train(cfg)
    assert {"train/loss", "val/acc", "test/acc"} <= set(metrics)
    assert objects["trainer"].global_step == 1


def test_compile_option_compiles_the_network_in_place(train_cfg):
    from fer_lightning.build import build_datamodule, build_module, build_net

    cfg = train_cfg("compile=true")
    dm = build_datamodule(cfg)
    dm.setup()
    net = build_net(cfg)
    keys = set(net.state_dict())
    module = build_module(cfg, dm, net)
    assert module.net._compiled_call_impl is not None
    assert set(module.net.state_dict()) == keys  # checkpoints stay loadable without torch.compile
