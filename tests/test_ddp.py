"""DDP on 2 CPU processes: the in-memory pipeline shards across ranks and metrics are reduced over all of them."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli


@pytest.mark.slow
def test_ddp_two_cpu_processes_reduce_metrics_over_ranks(tmp_path):
    run_dir = tmp_path / "ddp"
    res = run_cli(
        "fer_lightning.train",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "data.n_train=512",
        "data.n_val=130",
        "data.n_test=64",
        "data.batch_size=64",
        "trainer.max_epochs=2",
        "trainer.precision=32-true",
        "callbacks.progress_bar=null",
        f"hydra.run.dir={run_dir}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 2
    history = json.loads((run_dir / "epoch_metrics.json").read_text())
    # 512 training faces over 2 ranks of batch 64: 4 optimizer steps per epoch on each rank
    assert [h["step"] for h in history] == [4, 8]

    # (fp32 in both, so the comparison is exact.) One process evaluating the best checkpoint on the whole (odd-sized) validation split reproduces the
    # accuracy logged under DDP: each rank saw a different half and the metric was reduced over both.
    res = run_cli(
        "fer_lightning.eval", f"ckpt_path={summary['best_ckpt']}", "split=val", f"paths.log_dir={tmp_path}"
    )
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(next((tmp_path / "evals").glob("*/metrics.json")).read_text())
    assert report["n"] == 130
    assert report["accuracy"] == pytest.approx(summary["best_val_acc"], abs=1e-6)
