"""The benchmark command in quick mode: it must produce every figure (speed targets live in the benchmark itself)."""

from __future__ import annotations

import json
import math

from conftest import run_cli

KEYS = ("model_step", "train_loop", "augment", "reference", "loop_over_step", "loop_over_reference")


def test_bench_json_has_every_figure(tmp_path):
    res = run_cli(
        "fer_lightning.bench",
        "format=json",
        "steps=2",
        "warmup=1",
        "augment_seconds=0.2",
        "data.n_train=512",
        "data.batch_size=32",
        "reference_workers=1",
        "repeats=1",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads(res.stdout.strip().splitlines()[-1])
    for key in KEYS:
        assert isinstance(result[key], float) and math.isfinite(result[key]) and result[key] > 0, key
    assert result["loop_over_step"] == result["train_loop"] / result["model_step"]
    assert result["loop_over_reference"] == result["train_loop"] / result["reference"]
    assert result["setup"]["model"] == "paper/dinh_gray"
    assert list(tmp_path.iterdir()) == []  # writes no run dir


def test_bench_table_names_each_measurement(tmp_path):
    res = run_cli(
        "fer_lightning.bench",
        "model=sequential",
        "augment=standard",
        "steps=1",
        "warmup=1",
        "augment_seconds=0.1",
        "data.n_train=256",
        "data.batch_size=32",
        "reference_workers=0",
        "repeats=1",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    for label in ("(a) model step", "(b) train loop", "(c) augmentation", "(d) seed reference", "b/a", "b/d"):
        assert label in res.stdout
    assert "model=sequential" in res.stdout
