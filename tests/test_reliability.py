"""Reliability: exact resume after SIGKILL, same-seed determinism, failed-trial isolation, clear config errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from conftest import REPO, run_cli

from fer_lightning.errors import ConfigError, FERError
from fer_lightning.train import train

SMALL = [  # 10 steps per epoch, as small as they can be
    "data.n_train=320",
    "data.n_val=64",
    "data.n_test=64",
    "data.batch_size=32",
    "trainer.max_epochs=3",
    "deterministic=true",
    "callbacks.progress_bar=null",
]
INJECT = {"PYTHONPATH": str(REPO / "tests")}


def _weights_digest(ckpt: Path) -> str:
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].float().numpy().tobytes())
    return digest.hexdigest()


def _scalar_steps(tb_dir: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_dir))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    res = run_cli("fer_lightning.train", *SMALL, f"hydra.run.dir={full}")
    assert res.returncode == 0, res.stderr[-2000:]
    # 10 steps per epoch: step 15 is the middle of the second epoch
    res = run_cli(
        "fer_lightning.train",
        *SMALL,
        f"hydra.run.dir={killed}",
        "+callbacks.kill._target_=fault_injection.KillAtStep",
        env={**INJECT, "FER_KILL_AT_STEP": "15"},
    )
    assert res.returncode == -9  # SIGKILL
    assert not (killed / "metrics.json").exists()
    # the command line need not be repeated: the run dir's saved config is resumed
    res = run_cli("fer_lightning.train", f"hydra.run.dir={killed}", "resume=true", env=INJECT)
    assert res.returncode == 0, res.stderr[-2000:]

    a = json.loads((full / "metrics.json").read_text())
    b = json.loads((killed / "metrics.json").read_text())
    assert b["status"] == "completed" and b["epochs"] == 3
    assert a["metrics"] == b["metrics"]
    assert _weights_digest(full / "checkpoints" / "last.ckpt") == _weights_digest(
        killed / "checkpoints" / "last.ckpt"
    )
    # one continuous TensorBoard curve: each epoch once, same values as the uninterrupted run
    steps = _scalar_steps(killed / "tensorboard", "val/acc")
    assert [s for s, _ in steps] == sorted({s for s, _ in steps})
    assert steps == _scalar_steps(full / "tensorboard", "val/acc")


def test_resume_without_checkpoint_is_a_clear_error(train_cfg):
    cfg = train_cfg("resume=true")
    with pytest.raises(ConfigError, match="last.ckpt does not exist"):
        train(cfg)


def test_same_seed_gives_identical_metrics(train_cfg):
    first, _ = train(train_cfg("deterministic=true", "trainer.max_epochs=2"))
    second, _ = train(train_cfg("deterministic=true", "trainer.max_epochs=2"))
    assert first == second
    third, _ = train(train_cfg("deterministic=true", "trainer.max_epochs=2", "seed=7"))
    assert third != first


def test_nan_loss_fails_one_trial_and_the_sweep_goes_on(tmp_path):
    res = run_cli(
        "fer_lightning.train",
        "--multirun",
        "data.n_train=256",
        "data.n_val=64",
        "data.n_test=64",
        "data.batch_size=64",
        "trainer.max_epochs=2",
        "callbacks.progress_bar=null",
        "+callbacks.poison._target_=fault_injection.PoisonWeights",
        "+callbacks.poison.step=5",
        "+callbacks.poison.enabled=true,false",
        f"paths.log_dir={tmp_path}",
        env=INJECT,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    sweep = next((tmp_path / "multirun").iterdir())
    statuses = {}
    for job in ("0", "1"):
        statuses[job] = json.loads((sweep / job / "metrics.json").read_text())
    assert statuses["0"]["status"] == "failed"
    assert "non-finite training loss at epoch 1, step 5" in statuses["0"]["error"]
    assert statuses["1"]["status"] == "completed"
    # the poisoned trial keeps its last good checkpoint (end of epoch 0)
    assert (sweep / "0" / "checkpoints" / "last.ckpt").is_file()
    report = (sweep / "report.csv").read_text()
    assert "failed" in report and "completed" in report


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("optimizer.lr=-1", "optimizer.lr=-1 must be a positive number"),
        ("optimizer.lr=0", "optimizer.lr=0 must be a positive number"),
        ("data.batch_size=0", "data.batch_size=0 must be a positive number"),
        ("model.dropout=1.5", "model.dropout=1.5 must be in [0, 1)"),
        ("model.dropout=-0.1", "model.dropout=-0.1 must be in [0, 1)"),
        ("trainer.max_epochs=0", "trainer.max_epochs=0 must be a positive number"),
        ("model=paper/kahar", "data.channels=3"),
        ("model=paper/seed003_newbase", "data.image_size=224"),
    ],
)
def test_bad_config_values_name_the_key(train_cfg, override, expected):
    cfg = train_cfg(override)
    with pytest.raises(FERError) as err:
        train(cfg)
    assert expected in str(err.value)
    # checked before any work: no checkpoint or metrics written
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_missing_data_root_names_the_path(train_cfg, tmp_path):
    cfg = train_cfg("data=fer2013", f"data.root={tmp_path}/absent", "trainer.max_epochs=1", fast=False)
    with pytest.raises(FERError, match=str(tmp_path / "absent")):
        train(cfg)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["optimizer=foo"], ["optimizer", "adam", "adamw", "rmsprop", "sgd"]),
        (["scheduler=bogus"], ["scheduler", "plateau", "cosine"]),
        (["model=bogus"], ["model", "sequential", "inception"]),
        (["optimizer.lr=-1"], ["optimizer.lr=-1 must be a positive number"]),
    ],
)
def test_cli_config_errors_exit_nonzero_without_traceback(tmp_path, args, expected):
    res = run_cli("fer_lightning.train", *args, f"paths.log_dir={tmp_path}")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    for text in expected:
        assert text in out
    assert "Traceback" not in out


def test_unwritable_outputs_dir_fails_fast(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a dir")
    res = run_cli("fer_lightning.train", f"paths.log_dir={blocker}/outputs")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "cannot be written" in out and "paths.log_dir" in out
    assert "Traceback" not in out


def test_required_value_left_unset_is_an_error(train_cfg):
    cfg = train_cfg("init_from=???")
    with pytest.raises(ConfigError, match="required config value.*init_from"):
        train(cfg)


def test_refused_run_dir_keeps_the_earlier_runs_record(tmp_path):
    run_dir = tmp_path / "run"
    args = (
        "data.n_train=128",
        "data.n_val=64",
        "data.n_test=64",
        "trainer.max_epochs=1",
        "callbacks.progress_bar=null",
    )
    assert run_cli("fer_lightning.train", *args, f"hydra.run.dir={run_dir}").returncode == 0
    before = (run_dir / "metrics.json").read_text()
    res = run_cli("fer_lightning.train", *args, f"hydra.run.dir={run_dir}")
    assert res.returncode != 0 and "never overwritten" in res.stdout + res.stderr
    assert (run_dir / "metrics.json").read_text() == before
