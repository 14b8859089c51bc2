"""The GPU check's parts that run without a GPU: the no-CUDA exit, arguments, the plan, the step runner, the summary.

Every summary here is test data built by the test (its GPU is named "TEST GPU, not measured"); no figure in this
file is a measurement.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pytest
from conftest import FAST, REPO, THREADS, compose_config, run_cli

from fer_lightning.bench import gpu_check
from fer_lightning.bench.gpu_check import Options, Step
from fer_lightning.build import build_datamodule
from fer_lightning.errors import ConfigError
from fer_lightning.train import train


def test_without_cuda_it_says_so_in_one_line_and_exits_non_zero(tmp_path):
    out = tmp_path / "out"
    res = run_cli("fer_lightning.bench.gpu_check", f"out_dir={out}", env={"CUDA_VISIBLE_DEVICES": ""})
    assert res.returncode == gpu_check.EXIT_NO_CUDA == 3
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CUDA GPU" in lines[0], res.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["nope=1"], "allowed keys: out_dir"),
        (["only=tests,gpu"], "only='tests,gpu'; allowed: a comma list of tests, bench"),
        (["full=maybe"], "full='maybe'; allowed: true or false"),
        (["train_epochs=0"], "train_epochs='0'"),
        (["data_root"], "unknown argument 'data_root'"),
    ],
)
def test_bad_arguments_name_the_key(args, match):
    with pytest.raises(ConfigError, match=match):
        gpu_check.parse_args(args)


def test_arguments_and_environment_default(monkeypatch):
    monkeypatch.setenv("FER2013_ROOT", "/data/fer")
    opts = gpu_check.parse_args(["only=bench,parity", "parity_seeds=0,1", "full=true", "budget_s=60"])
    assert opts.data_root == "/data/fer" and opts.only == ("bench", "parity")
    assert opts.parity_seeds == (0, 1) and opts.full and opts.budget_s == 60.0


def test_plan_without_fer2013_runs_tests_and_bench_and_says_why_the_rest_is_skipped(tmp_path):
    steps = gpu_check.plan(Options(), tmp_path)
    assert [s.name for s in steps] == [
        "gpu tests",
        "bench paper/dinh_gray",
        "bench vgg_fer",
        "train",
        "parity",
    ]
    assert all("trainer=gpu" in s.argv and "format=json" in s.argv for s in steps if s.group == "bench")
    assert [s.meta.get("skip") for s in steps[-2:]] == ["no FER2013 given (data_root= or $FER2013_ROOT)"] * 2
    tests = steps[0].argv
    assert tests[tests.index("pytest") :][:3] == ["pytest", "-m", "gpu"]
    assert str(REPO / "tests" / "test_gpu.py") in tests


def _overrides(step: Step) -> list[str]:
    module_at = step.argv.index("-m") + 2
    return [a for a in step.argv[module_at:] if not a.startswith("hydra.run.dir=")]


def test_planned_commands_compose_into_the_configs_they_mean(tmp_path):
    opts = Options(data_root=str(tmp_path), parity_seeds=(0, 1))
    steps = gpu_check.plan(opts, tmp_path / "out")
    trainings = [s for s in steps if s.group in ("train", "parity")]
    assert [s.meta["recipe"] for s in trainings if s.group == "train"] == list(gpu_check.RECIPES)
    assert len([s for s in trainings if s.group == "parity"]) == 6
    for step in trainings:
        cfg = compose_config("train", _overrides(step), tmp_path / "compose" / step.name.replace(" ", "_"))
        assert cfg.trainer.accelerator == "gpu" and cfg.data.dataset == "fer2013"
        assert cfg.data.root == str(tmp_path) and cfg.data.val_source == "carve"
        assert cfg.callbacks.cuda_memory._target_.endswith("CudaMemoryLog")
        assert cfg.callbacks.cuda_memory.output_dir == step.run_dir
        if step.group == "parity":
            assert cfg.trainer.precision == step.meta["precision"] and cfg.seed == step.meta["seed"]
            assert cfg.trainer.max_epochs == opts.parity_epochs and cfg.model.name == "paper/dinh_gray"
        else:
            assert cfg.trainer.max_epochs == opts.train_epochs
    for step in (s for s in steps if s.group == "bench"):
        cfg = compose_config("bench", _overrides(step), tmp_path / "compose" / "bench")
        assert cfg.model.name == step.meta["model"] and cfg.trainer.accelerator == "gpu"
    evals = [s for s in steps if s.group == "eval"]
    assert [s.meta["after"] for s in evals] == [f"train {r}" for r in gpu_check.RECIPES]
    cfg = compose_config("eval", _overrides(evals[0]), tmp_path / "compose" / "eval")
    assert cfg.tta == "tencrop" and cfg.split == "test"
    full = gpu_check.plan(Options(data_root=str(tmp_path), full=True, only=("train",)), tmp_path)
    assert not any(a.startswith("trainer.max_epochs=") for s in full for a in s.argv)


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_run_check_records_figures_failures_timeouts_and_skips(tmp_path, monkeypatch, capsys):
    bench_json = json.dumps(
        {
            "model_step": 1000.0,
            "train_loop": 950.0,
            "augment": math.inf,
            "reference": 400.0,
            "loop_over_step": 0.95,
            "loop_over_reference": 2.375,
            "setup": {"precision": "bf16-mixed", "batch_size": 128},
        }
    ).replace("Infinity", "1e309")
    steps = [
        Step(
            "bench fake", "bench", _py(f"print('warming up'); print({bench_json!r})"), 30, meta={"model": "m"}
        ),
        Step(
            "train fake",
            "train",
            _py("import sys; sys.exit('error: data.root=/x does not exist')"),
            30,
            run_dir=str(tmp_path / "r"),
            meta={"recipe": "fake"},
        ),
        Step(
            "eval fake",
            "eval",
            ["ckpt_path=BEST_CHECKPOINT_OF_fake"],
            30,
            meta={"recipe": "fake", "after": "train fake"},
        ),
        Step(
            "slow",
            "parity",
            _py("import time; time.sleep(30)"),
            1,
            run_dir=str(tmp_path / "p"),
            meta={"precision": "16-mixed", "seed": 0},
        ),
        Step("late", "bench", _py("print(1)"), 30, meta={"model": "late"}),
    ]
    monkeypatch.setattr(gpu_check, "plan", lambda opts, out_dir: steps)
    summary = gpu_check.run_check(Options(budget_s=100), tmp_path, start=gpu_check.time.perf_counter())
    by_name = {s["name"]: s for s in summary["steps"]}
    assert by_name["bench fake"]["status"] == "ok"
    assert by_name["bench fake"]["bench"]["fer2013_epoch_s_estimate"] == pytest.approx(28_709 / 950.0)
    assert by_name["train fake"]["status"] == "failed"
    assert by_name["train fake"]["error"] == "error: data.root=/x does not exist"
    assert by_name["eval fake"] == {
        **by_name["eval fake"],
        "status": "skipped",
        "error": "train fake left no checkpoint",
    }
    assert (
        by_name["slow"]["status"] == "timeout" and "budget of 1 s" in Path(by_name["slow"]["log"]).read_text()
    )
    assert by_name["late"]["status"] == "failed"  # it printed no benchmark JSON
    assert by_name["late"]["error"].startswith("could not read the step's results: TypeError")
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("[gpu-check") and "(2/5) train fake: failed" in line for line in lines)
    json_path, md_path = gpu_check.write_summary(summary, tmp_path)
    assert json.loads(json_path.read_text())["steps"][0]["bench"]["augment"] is None  # inf is not valid JSON
    assert "| train fake | failed |" in md_path.read_text()


def test_steps_past_the_overall_budget_are_skipped_not_started(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    steps = [Step("a", "bench", _py(f"open({str(marker)!r}, 'w')"), 30, meta={"model": "a"})]
    monkeypatch.setattr(gpu_check, "plan", lambda opts, out_dir: steps)
    summary = gpu_check.run_check(Options(budget_s=5), tmp_path, start=gpu_check.time.perf_counter() - 10)
    assert summary["steps"][0]["status"] == "skipped" and "budget of 5 s" in summary["steps"][0]["error"]
    assert not marker.exists()


def _built_summary() -> dict:
    """A summary as the check would write it, with made-up numbers (test data, not a measurement)."""
    bench = gpu_check.parse_bench(
        json.dumps(
            {
                "model_step": 20000.0,
                "train_loop": 12000.0,
                "augment": 90000.0,
                "reference": 3000.0,
                "loop_over_step": 0.6,
                "loop_over_reference": 4.0,
                "setup": {"precision": "bf16-mixed", "batch_size": 128},
            }
        )
    )
    steps = [
        {
            "name": "gpu tests",
            "group": "tests",
            "status": "failed",
            "seconds": 40.0,
            "error": "1 failed",
            "tests": {
                "counts": {"passed": 1, "failed": 1},
                "cases": [
                    {"test": "test_a", "outcome": "passed", "seconds": 1.0, "detail": ""},
                    {"test": "test_b", "outcome": "failed", "seconds": 2.0, "detail": "assert x | y"},
                ],
            },
        },
        {
            "name": "bench paper/dinh_gray",
            "group": "bench",
            "status": "ok",
            "seconds": 30.0,
            "model": "paper/dinh_gray",
            "bench": bench,
        },
        {
            "name": "train dinh_gray",
            "group": "train",
            "status": "ok",
            "seconds": 61.5,
            "recipe": "dinh_gray",
            "epochs": 2,
            "seconds_per_epoch": 2.5,
            "best_val_acc": 0.5,
            "test_acc": 0.4567,
            "peak_memory_mib": 812.0,
            "memory_growth_mib": 0.0,
            "best_ckpt": "/x.ckpt",
        },
        {
            "name": "eval dinh_gray tencrop",
            "group": "eval",
            "status": "ok",
            "seconds": 9.0,
            "recipe": "dinh_gray",
            "accuracy": 0.4789,
            "n": 3589,
        },
    ]
    for precision, acc in (("32-true", 0.60), ("16-mixed", 0.61), ("bf16-mixed", 0.55)):
        steps.append(
            {
                "name": f"parity {precision} seed 0",
                "group": "parity",
                "status": "ok",
                "seconds": 20.0,
                "precision": precision,
                "seed": 0,
                "test_acc": acc,
            }
        )
    return {
        "created": "2000-01-01T00:00:00",
        "command": "python -m fer_lightning.bench.gpu_check data_root=/d",
        "options": {"parity_epochs": 3},
        "environment": {
            "gpu": "TEST GPU, not measured",
            "driver": "0.0",
            "torch": "t",
            "cuda": "c",
            "cudnn": 1,
        },
        "steps": steps,
        "parity": gpu_check.parity_table(steps, 3589),
        "seconds": 200.0,
    }


def test_parity_is_judged_against_fp32_within_a_binomial_noise_band():
    parity = _built_summary()["parity"]
    assert parity["noise_band"] == pytest.approx(2 * math.sqrt(2) * math.sqrt(0.6 * 0.4 / 3589))
    rows = parity["rows"]
    assert rows["32-true"]["delta_vs_fp32"] == 0.0 and rows["32-true"]["within_noise"]
    assert rows["16-mixed"]["delta_vs_fp32"] == pytest.approx(0.01) and rows["16-mixed"]["within_noise"]
    assert (
        rows["bf16-mixed"]["delta_vs_fp32"] == pytest.approx(-0.05) and not rows["bf16-mixed"]["within_noise"]
    )
    assert gpu_check.parity_table([], 3589) == {"rows": {}, "noise_band": None, "n_test": 3589}


def test_summary_markdown_shows_every_figure_of_a_built_summary(tmp_path):
    summary = _built_summary()
    json_path, md_path = gpu_check.write_summary(summary, tmp_path)
    assert json.loads(json_path.read_text())["environment"]["gpu"] == "TEST GPU, not measured"
    md = md_path.read_text()
    assert md == gpu_check.summary_markdown(summary)
    assert "- GPU: TEST GPU, not measured" in md and "driver 0.0" in md
    assert "| test_b | failed | 2.000 | assert x / y |" in md  # a pipe in a message cannot break the table
    assert (
        "| paper/dinh_gray | bf16-mixed | 128 | 20,000 | 12,000 | 90,000 | 3,000 | 0.600 | 4.000 | 2.392 |"
        in md
    )
    assert "epoch_under_3s: met, augment_over_100k: NOT met, loop_at_least_0.9_step: NOT met" in md
    assert "| dinh_gray | ok | 2 | 2.500 | 61.5 | 50.00 % | 45.67 % | 47.89 % | 812.0 | 0.000 |" in md
    assert (
        "| 16-mixed | 1 | 61.00 % | 1.00 % | yes |" in md
        and "| bf16-mixed | 1 | 55.00 % | -5.00 % | NO |" in md
    )
    assert "n = 3,589 test images" in md
    assert "seeds 0" in md and "3 epochs" in md


@pytest.mark.slow  # a pytest subprocess that imports the whole stack
def test_the_planned_gpu_test_command_skips_cleanly_on_this_machine(tmp_path):
    (step,) = gpu_check.plan(Options(only=("tests",)), tmp_path)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": str(THREADS)}
    result = gpu_check.run_step(step, tmp_path / "logs", timeout_s=300, env=env)
    gpu_check.collect(step, result)
    assert result["status"] == "ok", Path(result["log"]).read_text()[-2000:]
    parsed = result["tests"]
    assert parsed["counts"] == {"skipped": len(parsed["cases"])} and len(parsed["cases"]) >= 5
    assert all("needs a CUDA GPU" in case["detail"] for case in parsed["cases"])


def test_a_training_leaves_the_files_the_check_reads(tmp_path):
    run_dir = tmp_path / "run"
    cfg = compose_config("train", [*FAST, *gpu_check.memory_log(run_dir)], run_dir)
    train(cfg)
    record = gpu_check.parse_training(run_dir)
    assert record["run_status"] == "completed" and record["epochs"] == 1
    assert 0.0 <= record["test_acc"] <= 1.0 and record["seconds_per_epoch"] > 0
    assert Path(record["best_ckpt"]).is_file()
    assert "memory_mib" not in record and not (run_dir / "cuda_memory.json").exists()  # CPU: nothing to log


def test_inspect_summary_gives_the_split_sizes(train_cfg):
    dm = build_datamodule(train_cfg())
    parsed = gpu_check.parse_inspect("decoding...\n" + json.dumps(dm.summary()))
    assert parsed["splits"] == {"train": 384, "val": 128, "test": 128}


def test_missing_packages_on_a_gpu_machine_are_named_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(gpu_check.importlib.util, "find_spec", lambda name: None if name == "hydra" else True)
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert gpu_check.main([]) == gpu_check.EXIT_MISSING_PACKAGES == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing Python packages: hydra;" in err[0] and "wheels/" in err[0]
