"""Sweeps as users run them: a narrowed grid, an Optuna study stored and resumed, the launchers, k-fold."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

# One epoch on a few synthetic faces: each trial trains in about a second, the rest is process start-up.
# No figures callback: the sweep report draws its own curves from each run's epoch_metrics.json.
TINY = [
    "data.n_train=64",
    "data.n_val=32",
    "data.n_test=32",
    "trainer.max_epochs=1",
    "callbacks.progress_bar=null",
    "callbacks.figures=null",
]

REPORT_COLUMNS = [
    "run",
    "status",
    "params",
    "sec_per_epoch",
    "epochs",
    "train_acc",
    "val_acc",
    "best_val_acc",
    "test_acc",
    "test_precision",
    "test_recall",
    "test_f1",
    "error",
]


def sweep(tmp_path: Path, *args: str, timeout: int = 300) -> Path:
    """Run `python -m fer_lightning.train ...` into tmp_path/sweep and return that sweep dir.

    No --multirun unless a test passes it: hparams_search and the k-fold experiments switch to a multirun
    themselves, as the README's commands rely on.
    """
    sweep_dir = tmp_path / "sweep"
    res = run_cli(
        "fer_lightning.train",
        *args,
        *TINY,
        f"paths.log_dir={tmp_path}",
        f"hydra.sweep.dir={sweep_dir}",
        timeout=timeout,
    )
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    return sweep_dir


def run_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p.parent for p in sweep_dir.rglob("metrics.json"))


def test_optuna_search_composes_to_a_seeded_stored_study(train_cfg):
    cfg = train_cfg("hparams_search=optuna", "seed=3", fast=False)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert sweeper.direction == "maximize" and cfg.optimized_metric == "val/acc_best"
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed == 3
    assert sweeper.storage == f"sqlite:///{cfg.hydra.sweep.dir}/optuna.db"
    assert (sweeper.n_trials, sweeper.n_jobs) == (20, 1)
    assert set(sweeper.params) == {"optimizer", "optimizer.lr", "data.batch_size", "model.dropout"}


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local", "submitit_slurm", "slurm"])
def test_launchers_compose(train_cfg, launcher):
    cfg = train_cfg(f"hydra/launcher={launcher}", fast=False)
    assert cfg.hydra.launcher._target_.startswith("hydra_plugins.")
    if launcher == "slurm":
        # the project's Slurm defaults: one GPU and the hours a FER training takes
        assert cfg.hydra.launcher.gpus_per_node == 1 and cfg.hydra.launcher.timeout_min >= 600


def test_narrowed_grid_reports_every_trial_and_the_failed_one_with_its_error(tmp_path):
    # model.dropout=1.5 fails the config check of two of the four trials; the other two still train
    sweep_dir = sweep(
        tmp_path,
        "hparams_search=grid",
        "optimizer=adam,sgd",
        "optimizer.lr=1e-3",
        "data.batch_size=64",
        "model.dropout=0.2,1.5",
    )
    assert len(run_dirs(sweep_dir)) == 4
    report = pd.read_csv(sweep_dir / "report.csv")
    assert len(report) == 4
    assert list(report.columns) == REPORT_COLUMNS[:2] + ["model.dropout", "optimizer"] + REPORT_COLUMNS[2:]
    done = report[report["status"] == "completed"]
    failed = report[report["status"] == "failed"]
    assert sorted(done["optimizer"]) == ["adam", "sgd"]
    assert set(done["model.dropout"]) == {0.2}
    for column in REPORT_COLUMNS[2:-1]:
        assert done[column].notna().all(), column
    assert ((done["test_acc"] >= 0) & (done["test_acc"] <= 1)).all()
    # counts are written as integers even where a failed run leaves the column empty
    raw = pd.read_csv(sweep_dir / "report.csv", dtype=str)
    assert raw.loc[raw["status"] == "completed", "params"].str.isdigit().all()
    assert set(failed["model.dropout"]) == {1.5}
    assert failed["error"].str.startswith("ConfigError: model.dropout=1.5 must be in [0, 1)").all()
    # best first, failed runs last
    assert list(report["status"]) == ["completed", "completed", "failed", "failed"]
    md = (sweep_dir / "report.md").read_text()
    assert "| run | status | model.dropout | optimizer |" in md
    assert (sweep_dir / "curves.png").is_file() and (sweep_dir / "summary.png").is_file()


def load_study(sweep_dir: Path):
    import optuna

    return optuna.load_study(study_name="fer", storage=f"sqlite:///{sweep_dir}/optuna.db")


@pytest.mark.slow
def test_optuna_study_is_stored_and_resumed(tmp_path):
    import optuna

    sweep_dir = sweep(tmp_path, "hparams_search=optuna", "hydra.sweeper.n_trials=3")
    study = load_study(sweep_dir)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert set(study.trials[0].params) == {"optimizer", "optimizer.lr", "data.batch_size", "model.dropout"}
    assert all(1e-4 <= t.params["optimizer.lr"] <= 1e-2 for t in study.trials)
    # the value Optuna maximises is what each run recorded as its best validation accuracy
    recorded = sorted(
        json.loads((d / "metrics.json").read_text())["best_val_acc"] for d in run_dirs(sweep_dir)
    )
    assert sorted(t.value for t in study.trials) == pytest.approx(recorded)

    # the same sweep dir again: the stored study is loaded and grows; no earlier run dir is touched
    before = {d: (d / "metrics.json").read_text() for d in run_dirs(sweep_dir)}
    sweep(tmp_path, "hparams_search=optuna", "hydra.sweeper.n_trials=1", "hydra.sweeper.sampler.seed=7")
    study = load_study(sweep_dir)
    assert len(study.trials) == 4
    assert study.trials[-1].state == optuna.trial.TrialState.COMPLETE
    assert all((d / "metrics.json").read_text() == text for d, text in before.items())
    assert len(run_dirs(sweep_dir)) == 4
    assert len(pd.read_csv(sweep_dir / "report.csv")) == 4


@pytest.mark.slow
def test_optuna_failed_trial_is_recorded_and_the_study_goes_on(tmp_path):
    import optuna

    sweep_dir = sweep(
        tmp_path, "hparams_search=optuna", "hydra.sweeper.n_trials=2", "model.dropout=choice(0.2,1.5)"
    )
    # seeded by seed=42, TPE's first draw is the bad value
    states = [(t.params["model.dropout"], t.state) for t in load_study(sweep_dir).trials]
    assert states[0] == (1.5, optuna.trial.TrialState.FAIL)
    assert len(states) == 2
    report = pd.read_csv(sweep_dir / "report.csv")
    assert sorted(report["status"]) == ["completed", "failed"]


@pytest.mark.slow
def test_submitit_local_launcher_runs_each_trial_as_a_job(tmp_path):
    # the code path of hydra/launcher=submitit_slurm, with local processes instead of a Slurm queue
    sweep_dir = sweep(tmp_path, "--multirun", "hydra/launcher=submitit_local", "optimizer=adam,sgd")
    runs = run_dirs(sweep_dir)
    assert len(runs) == 2
    assert all(json.loads((d / "metrics.json").read_text())["status"] == "completed" for d in runs)
    assert list((sweep_dir / ".submitit").iterdir())
    assert len(pd.read_csv(sweep_dir / "report.csv")) == 2


def test_kfold_experiment_in_parallel_with_joblib(tmp_path):
    # experiment=dibenedetto_model1 sweeps its folds; narrowed to 2 folds on synthetic faces, 2 jobs at once
    sweep_dir = sweep(
        tmp_path,
        "experiment=dibenedetto_model1",
        "data=synthetic",
        "data.num_folds=2",
        "data.fold=0,1",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
    )
    runs = run_dirs(sweep_dir)
    assert len(runs) == 2
    assert all(json.loads((d / "metrics.json").read_text())["status"] == "completed" for d in runs)
    folds = pd.read_csv(sweep_dir / "folds.csv")
    assert len(folds) == 1
    assert folds.loc[0, "folds"] == 2
    for metric in ("best_val_acc", "test_acc"):
        values = pd.read_csv(sweep_dir / "report.csv")[metric]
        assert folds.loc[0, f"{metric}_mean"] == pytest.approx(values.mean())
        assert folds.loc[0, f"{metric}_std"] == pytest.approx(values.std(ddof=0))
    assert "k-fold mean ± std" in (sweep_dir / "report.md").read_text()
