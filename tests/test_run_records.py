"""A run's record is never rewritten: resume appends, a refused run writes nothing, every file is atomic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_cli

from fer_lightning.runtime.cli import USER_ERROR_EXIT
from fer_lightning.runtime.jsonio import atomic_path, write_json, write_text

TINY = [
    "data.n_train=128",
    "data.n_val=64",
    "data.n_test=64",
    "data.batch_size=64",
    "trainer.max_epochs=2",
    "callbacks.progress_bar=null",
    "callbacks.early_stopping=null",
]
INJECT = {"PYTHONPATH": str(REPO / "tests")}


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file of the run dir with its bytes (the log file aside: a resume appends to it)."""
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.suffix != ".log"
    }


def test_resume_appends_and_a_refused_run_writes_nothing(tmp_path):
    run = tmp_path / "run"
    # killed in its second epoch (2 steps per epoch), like a preempted job: a checkpoint, no metrics.json
    res = run_cli(
        "fer_lightning.train",
        *TINY,
        "optimizer.lr=0.002",
        f"hydra.run.dir={run}",
        "+callbacks.kill._target_=fault_injection.KillAtStep",
        env={**INJECT, "FER_KILL_AT_STEP": "3"},
    )
    assert res.returncode == -9, res.stderr[-2000:]
    assert f"run dir: {run}" in res.stderr  # said where the outputs go, at the start
    original = {name: (run / ".hydra" / name).read_bytes() for name in ("config.yaml", "overrides.yaml")}

    # a new run in that folder is refused before anything is written into it
    before = snapshot(run)
    refused = run_cli("fer_lightning.train", *TINY, "trainer.max_epochs=1", f"hydra.run.dir={run}")
    assert refused.returncode == USER_ERROR_EXIT and "never overwritten" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert snapshot(run) == before

    # the resume keeps its own overrides apart and leaves the run's own record as it was
    resumed = run_cli("fer_lightning.train", "resume=true", f"hydra.run.dir={run}", env=INJECT)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stderr.count(f"run dir: {run}") == 2  # at the start and at the end
    for name, content in original.items():
        assert (run / ".hydra" / name).read_bytes() == content
    assert yaml.safe_load((run / ".hydra" / "resume_1" / "overrides.yaml").read_text()) == ["resume=true"]
    record = json.loads((run / "metrics.json").read_text())
    assert record["status"] == "completed" and record["epochs"] == 2
    assert "optimizer.lr=0.002" in record["overrides"] and "resume=true" not in record["overrides"]
    assert record["resumes"] == [["resume=true"]]

    # the report shows the run with its own settings
    from fer_lightning.reporting.table import read_run

    row = read_run(run, tmp_path)
    assert row["status"] == "completed"
    assert {"optimizer.lr=0.002", "trainer.max_epochs=2"} <= set(row["_overrides"])

    # a finished run is not resumed again: its record stays as it is
    done = snapshot(run)
    again = run_cli("fer_lightning.train", "resume=true", f"hydra.run.dir={run}")
    assert again.returncode == USER_ERROR_EXIT and "has completed" in again.stderr
    assert snapshot(run) == done and not (run / ".hydra" / "resume_2").exists()


def test_resume_of_a_folder_without_a_run_creates_nothing(tmp_path):
    res = run_cli("fer_lightning.train", "resume=true", f"hydra.run.dir={tmp_path / 'none'}")
    assert res.returncode == USER_ERROR_EXIT and "last.ckpt does not exist" in res.stderr
    assert not (tmp_path / "none").exists()


# ---- atomic writes, with a fault injected mid-write ----


class Boom(RuntimeError):
    pass


def test_a_write_killed_midway_leaves_the_previous_version(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_json(path, {"status": "completed", "epochs": 3})
    before = path.read_bytes()

    real_write_text = Path.write_text

    def half_then_die(self, text, *args, **kwargs):
        real_write_text(self, text[: len(text) // 2], *args, **kwargs)
        raise Boom("killed mid-write")

    monkeypatch.setattr(Path, "write_text", half_then_die)
    with pytest.raises(Boom):
        write_json(path, {"status": "failed", "error": "x" * 1000})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left


def test_reports_and_histories_are_written_atomically(tmp_path, monkeypatch):
    from fer_lightning.reporting.report_files import write_report

    run = tmp_path / "run"
    write_json(run / "metrics.json", {"status": "completed", "metrics": {"val/acc_best": 0.5}})
    write_json(run / "epoch_metrics.json", [{"epoch": 0, "val/acc": 0.5}])
    write_text(run / "config.yaml", "seed: 1\n")
    written = write_report(tmp_path)
    before = {k: p.read_bytes() for k, p in written.items()}

    import pandas as pd

    def die_midway(self, path, *args, **kwargs):
        Path(path).write_text("run,sta")  # half a header, then the process dies
        raise Boom("killed mid-write")

    monkeypatch.setattr(pd.DataFrame, "to_csv", die_midway)
    with pytest.raises(Boom):
        write_report(tmp_path)
    monkeypatch.undo()
    assert {k: p.read_bytes() for k, p in written.items()} == before
    assert not list(tmp_path.glob(".*.tmp*"))


def test_atomic_path_keeps_the_suffix_for_writers_that_read_it(tmp_path):
    with atomic_path(tmp_path / "figure.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        tmp.write_bytes(b"png")
    assert (tmp_path / "figure.png").read_bytes() == b"png"
