"""`python -m fer_lightning.bench.gpu_check [data_root=...] [out_dir=...] [only=...] [full=true]`: the GPU run.

On a machine with a CUDA GPU it runs, each as its own subprocess with a time budget: the GPU tests
(`pytest -m gpu tests/test_gpu.py`), the benchmark with `trainer=gpu` for the seed-002 network and `vgg_fer`,
and, when FER2013 is given (`data_root=` or `$FER2013_ROOT`), short trainings of three recipes with ten-crop
TTA evaluation and a precision-parity run in 32-true, 16-mixed and bf16-mixed. It writes `gpu_check.json` and
`gpu_check.md` (GPU, driver, torch/CUDA versions, every figure) into the output dir. A failing step is recorded
and the others go on. Without CUDA it says so in one line and exits with code 3.

Not a Hydra main: it must answer "no CUDA" or "hydra-core is missing" before anything imports Hydra, and it
only launches the Hydra mains that do the work. Options are `key=value` like theirs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from fer_lightning.errors import ConfigError
from fer_lightning.runtime.jsonio import write_json

EXIT_NO_CUDA = 3
EXIT_MISSING_PACKAGES = 4
REPO = Path(__file__).resolve().parents[3]
# FER2013's Training split: the benchmark's img/s turns into an epoch time with it.
FER2013_TRAIN_IMAGES = 28_709
RECIPES = ("fer2013_best", "athanasopoulos_model7v3", "dinh_gray")
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")
BENCH_MODELS = {"paper/dinh_gray": "dinh_gray", "vgg_fer": "standard"}  # model -> its augmentation
GROUPS = ("tests", "bench", "data", "train", "parity")
# The targets for the seed-002 network (bench of paper/dinh_gray).
TARGETS = {"epoch_s_max": 3.0, "augment_min": 100_000.0, "loop_over_step_min": 0.9}
# Seconds each kind of step may take at most; the whole run also stops starting steps at `budget_s`.
STEP_BUDGETS = {"tests": 150, "bench": 70, "data": 90, "train": 75, "eval": 30, "parity": 45}
# What the steps import (looked up before anything runs); onnx/onnxruntime are optional: that export test skips.
NEEDED_MODULES = (
    "hydra",
    "omegaconf",
    "antlr4",
    "pytorch_lightning",
    "torchmetrics",
    "torchvision",
    "tensorboard",
    "matplotlib",
    "cv2",
    "pytest",
)


@dataclasses.dataclass
class Options:
    """What to run and where to write (every field is a `key=value` on the command line)."""

    out_dir: str = ""
    data_root: str = ""
    only: tuple[str, ...] = GROUPS
    full: bool = False  # the recipes at their own lengths (much longer than 8 minutes)
    train_epochs: int = 2
    parity_epochs: int = 3
    parity_seeds: tuple[int, ...] = (0,)
    budget_s: float = 450.0  # under 8 minutes with the probe and the summary


@dataclasses.dataclass
class Step:
    """One subprocess of the check: its command, budget and where its outputs land."""

    name: str
    group: str
    argv: list[str]
    budget_s: float
    run_dir: str | None = None  # a training's or evaluation's Hydra run dir
    meta: dict = dataclasses.field(default_factory=dict)


def parse_args(argv: list[str]) -> Options:
    """`key=value` arguments into Options; an unknown key or bad value is a ConfigError naming it."""
    opts = Options(data_root=os.environ.get("FER2013_ROOT", ""))
    fields = {f.name: f for f in dataclasses.fields(Options)}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in fields:
            raise ConfigError(f"gpu_check: unknown argument {arg!r}; allowed keys: {', '.join(fields)}")
        try:
            if key == "only":
                groups = tuple(g for g in value.split(",") if g)
                bad = [g for g in groups if g not in GROUPS]
                if bad or not groups:
                    raise ValueError
                setattr(opts, key, groups)
            elif key == "parity_seeds":
                setattr(opts, key, tuple(int(s) for s in value.split(",") if s) or (0,))
            elif key == "full":
                if value.lower() not in ("true", "false"):
                    raise ValueError
                opts.full = value.lower() == "true"
            elif key in ("train_epochs", "parity_epochs"):
                setattr(opts, key, int(value))
                if getattr(opts, key) < 1:
                    raise ValueError
            elif key == "budget_s":
                opts.budget_s = float(value)
            else:
                setattr(opts, key, value)
        except ValueError:
            allowed = {
                "only": f"a comma list of {', '.join(GROUPS)}",
                "full": "true or false",
                "parity_seeds": "a comma list of integers",
            }.get(key, "a positive number" if key != "out_dir" and key != "data_root" else "a path")
            raise ConfigError(f"gpu_check: {key}={value!r}; allowed: {allowed}") from None
    return opts


def missing_modules() -> list[str]:
    """The packages the check needs that this Python cannot import (looked up, not imported)."""
    return [m for m in NEEDED_MODULES if importlib.util.find_spec(m) is None]


def environment() -> dict:
    """GPU name, memory, capability, driver, and the torch / CUDA / cuDNN / Lightning versions."""
    import torch

    env = {
        "python": platform.python_version(),
        "host": platform.node(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "cuda_available": torch.cuda.is_available(),
        "driver": nvidia_smi_driver(),
    }
    for name in ("pytorch_lightning", "torchmetrics"):
        if importlib.util.find_spec(name) is not None:
            env[name] = __import__(name).__version__
    if env["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        env.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            capability=f"{props.major}.{props.minor}",
            bf16_supported=torch.cuda.is_bf16_supported(),
            gpu_count=torch.cuda.device_count(),
        )
    return env


def nvidia_smi_driver() -> str | None:
    """The driver version nvidia-smi reports, or None where it is absent."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def plan(opts: Options, out_dir: Path) -> list[Step]:
    """The steps to run, in order, for the chosen groups (FER2013 steps only when a data root is given)."""
    py = [sys.executable, "-m"]
    steps: list[Step] = []
    if "tests" in opts.only:
        steps.append(
            Step(
                "gpu tests",
                "tests",
                [
                    *py,
                    "pytest",
                    "-m",
                    "gpu",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    str(REPO / "tests" / "test_gpu.py"),
                    f"--junitxml={out_dir / 'pytest_gpu.xml'}",
                ],
                STEP_BUDGETS["tests"],
                meta={"junit": str(out_dir / "pytest_gpu.xml")},
            )
        )
    if "bench" in opts.only:
        for model, augment in BENCH_MODELS.items():
            steps.append(
                Step(
                    f"bench {model}",
                    "bench",
                    [
                        *py,
                        "fer_lightning.bench",
                        "trainer=gpu",
                        "format=json",
                        f"model={model}",
                        f"augment={augment}",
                        "steps=100",
                        "warmup=10",
                    ],
                    STEP_BUDGETS["bench"],
                    meta={"model": model},
                )
            )
    if not opts.data_root:
        reason = "no FER2013 given (data_root= or $FER2013_ROOT)"
        return steps + [
            Step(group, group, [], 0, meta={"skip": reason})
            for group in ("train", "parity")
            if group in opts.only
        ]
    data = ["data=fer2013", f"data.root={opts.data_root}", "data.val_source=carve"]
    if "data" in opts.only:
        # Also decodes FER2013 into the cache once, so the trainings after it start in seconds.
        steps.append(
            Step(
                "inspect fer2013",
                "data",
                [*py, "fer_lightning.inspect", *data, "format=json"],
                STEP_BUDGETS["data"],
            )
        )
    common = ["trainer=gpu", *data, "callbacks.progress_bar=null"]
    if "train" in opts.only:
        for recipe in RECIPES:
            run_dir = out_dir / "runs" / recipe
            length = [] if opts.full else [f"trainer.max_epochs={opts.train_epochs}"]
            steps.append(
                Step(
                    f"train {recipe}",
                    "train",
                    [
                        *py,
                        "fer_lightning.train",
                        f"experiment={recipe}",
                        *common,
                        *length,
                        *memory_log(run_dir),
                        f"hydra.run.dir={run_dir}",
                    ],
                    math.inf if opts.full else STEP_BUDGETS["train"],
                    run_dir=str(run_dir),
                    meta={"recipe": recipe, "full": opts.full},
                )
            )
            eval_dir = out_dir / "evals" / f"{recipe}_tencrop"
            steps.append(
                Step(
                    f"eval {recipe} tencrop",
                    "eval",
                    [
                        *py,
                        "fer_lightning.eval",
                        f"ckpt_path=BEST_CHECKPOINT_OF_{recipe}",
                        "tta=tencrop",
                        "split=test",
                        f"hydra.run.dir={eval_dir}",
                    ],
                    STEP_BUDGETS["eval"],
                    run_dir=str(eval_dir),
                    meta={"recipe": recipe, "after": f"train {recipe}"},
                )
            )
    if "parity" in opts.only:
        for seed in opts.parity_seeds:
            for precision in PRECISIONS:
                run_dir = out_dir / "parity" / f"{precision}_seed{seed}"
                steps.append(
                    Step(
                        f"parity {precision} seed {seed}",
                        "parity",
                        [
                            *py,
                            "fer_lightning.train",
                            "experiment=dinh_gray",
                            *common,
                            f"trainer.max_epochs={opts.parity_epochs}",
                            f"trainer.precision={precision}",
                            f"seed={seed}",
                            *memory_log(run_dir),
                            f"hydra.run.dir={run_dir}",
                        ],
                        STEP_BUDGETS["parity"],
                        run_dir=str(run_dir),
                        meta={"precision": precision, "seed": seed},
                    )
                )
    return steps


def memory_log(run_dir: Path) -> list[str]:
    """Overrides that add the per-epoch CUDA memory record to a training."""
    target = "fer_lightning.callbacks.cuda_memory.CudaMemoryLog"
    return [f"+callbacks.cuda_memory._target_={target}", f"+callbacks.cuda_memory.output_dir={run_dir}"]


def run_step(step: Step, log_dir: Path, timeout_s: float, env: dict | None = None) -> dict:
    """Run one step's subprocess with a timeout; its output goes to `log_dir/<name>.log`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / (step.name.replace(" ", "_").replace("/", "-") + ".log")
    start = time.perf_counter()
    try:
        proc = subprocess.run(step.argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s)
        rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        status = "ok" if rc == 0 else "failed"
    except subprocess.TimeoutExpired as err:
        rc, status = None, "timeout"
        stdout = _text(err.stdout)
        stderr = _text(err.stderr) + f"\n[gpu-check] stopped after its budget of {timeout_s:.0f} s"
    seconds = time.perf_counter() - start
    log_path.write_text(f"$ {' '.join(step.argv)}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n")
    result = {
        "name": step.name,
        "group": step.group,
        "status": status,
        "returncode": rc,
        "seconds": round(seconds, 2),
        "log": str(log_path),
        **step.meta,
    }
    if status != "ok":
        result["error"] = last_line(stderr) or last_line(stdout) or f"exit code {rc}"
    result["_stdout"] = stdout
    return result


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def last_line(text: str) -> str:
    """The last non-empty line of a process's output (the error a failing main prints last)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:400] if lines else ""


def parse_junit(path: Path) -> dict:
    """Counts and per-test outcomes from pytest's JUnit XML (skips keep their reason)."""
    root = ET.parse(path).getroot()
    cases = []
    for case in root.iter("testcase"):
        outcome, detail = "passed", ""
        for kind in ("failure", "error", "skipped"):
            node = case.find(kind)
            if node is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                detail = (node.get("message") or "").splitlines()[0][:300] if node.get("message") else ""
                break
        cases.append(
            {
                "test": case.get("name"),
                "outcome": outcome,
                "seconds": float(case.get("time") or 0),
                "detail": detail,
            }
        )
    counts: dict[str, int] = {}
    for case in cases:
        counts[case["outcome"]] = counts.get(case["outcome"], 0) + 1
    return {"counts": counts, "cases": cases}


def parse_bench(stdout: str) -> dict:
    """The benchmark's JSON line, with the FER2013 epoch estimate and the targets checked."""
    result = json.loads(stdout.strip().splitlines()[-1])
    result["fer2013_epoch_s_estimate"] = FER2013_TRAIN_IMAGES / result["train_loop"]
    result["targets"] = {
        "epoch_under_3s": result["fer2013_epoch_s_estimate"] < TARGETS["epoch_s_max"],
        "augment_over_100k": result["augment"] > TARGETS["augment_min"],
        "loop_at_least_0.9_step": result["loop_over_step"] >= TARGETS["loop_over_step_min"],
    }
    return result


def parse_training(run_dir: Path) -> dict:
    """Accuracy, timings and CUDA memory per epoch from the files a training run leaves."""
    summary = json.loads((run_dir / "metrics.json").read_text())
    metrics = summary.get("metrics", {})
    out = {
        "run_status": summary.get("status"),
        "epochs": summary.get("epochs"),
        "seconds_per_epoch": summary.get("seconds_per_epoch"),
        "best_val_acc": summary.get("best_val_acc"),
        "test_acc": metrics.get("test/acc"),
        "test_f1": metrics.get("test/f1"),
        "best_ckpt": summary.get("best_ckpt"),
    }
    memory_path = run_dir / "cuda_memory.json"
    if memory_path.is_file():
        rows = json.loads(memory_path.read_text())
        out["memory_mib"] = [r["allocated_mib"] for r in rows]
        out["peak_memory_mib"] = max((r["max_allocated_mib"] for r in rows), default=None)
        out["memory_growth_mib"] = rows[-1]["allocated_mib"] - rows[0]["allocated_mib"] if rows else None
    return out


def parse_eval(run_dir: Path) -> dict:
    """Accuracy, macro F1 and image count of an evaluation run."""
    report = json.loads((run_dir / "metrics.json").read_text())
    return {"accuracy": report["accuracy"], "macro_f1": report.get("macro_f1"), "n": report.get("n")}


def parse_inspect(stdout: str) -> dict:
    """Split sizes from `fer_lightning.inspect format=json`."""
    summary = json.loads(stdout.strip().splitlines()[-1])
    return {
        "splits": {name: s["n"] for name, s in summary["splits"].items()},
        "dropped": summary.get("dropped"),
    }


def parity_table(results: list[dict], n_test: int | None) -> dict:
    """Test accuracy per precision (mean over seeds) against 32-true, with a binomial noise band."""
    by_precision: dict[str, list[float]] = {}
    for r in results:
        if r["group"] == "parity" and r.get("test_acc") is not None:
            by_precision.setdefault(r["precision"], []).append(r["test_acc"])
    rows = {p: {"test_acc": sum(v) / len(v), "runs": len(v)} for p, v in by_precision.items()}
    reference = rows.get("32-true", {}).get("test_acc")
    band = None
    if reference is not None and n_test:
        # Two accuracies on n test images each carry a binomial standard error; their difference is
        # "within noise" when it is under two standard errors of a difference (2 * sqrt(2) * se).
        band = 2 * math.sqrt(2) * math.sqrt(reference * (1 - reference) / n_test)
    for row in rows.values():
        if reference is not None:
            row["delta_vs_fp32"] = row["test_acc"] - reference
            row["within_noise"] = abs(row["delta_vs_fp32"]) <= band if band is not None else None
    return {"rows": rows, "noise_band": band, "n_test": n_test}


def collect(step: Step, result: dict) -> None:
    """Read the figures a finished step produced into its result (a parse failure marks the step failed)."""
    stdout = result.pop("_stdout", "")
    try:
        if step.group == "tests" and Path(step.meta["junit"]).is_file():
            result["tests"] = parse_junit(Path(step.meta["junit"]))
        elif result["status"] != "ok":
            return
        elif step.group == "bench":
            result["bench"] = parse_bench(stdout)
        elif step.group == "data":
            result.update(parse_inspect(stdout))
        elif step.group in ("train", "parity"):
            result.update(parse_training(Path(step.run_dir)))
        elif step.group == "eval":
            result.update(parse_eval(Path(step.run_dir)))
    except (OSError, ValueError, KeyError, IndexError, TypeError, ET.ParseError) as err:
        result["status"] = "failed"
        result["error"] = f"could not read the step's results: {type(err).__name__}: {err}"


def progress(start: float, message: str) -> None:
    """One progress line with the elapsed time, flushed at once."""
    print(f"[gpu-check {time.perf_counter() - start:6.1f}s] {message}", flush=True)


def run_check(opts: Options, out_dir: Path, start: float) -> dict:
    """Run every planned step within the overall budget and return the summary dict."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Subprocesses find the package from a plain checkout too (the GPU machine may not have it installed).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH", "")) if p)
    steps = plan(opts, out_dir)
    results: list[dict] = []
    by_name: dict[str, dict] = {}
    for i, step in enumerate(steps, 1):
        remaining = opts.budget_s - (time.perf_counter() - start)
        after = by_name.get(step.meta.get("after", ""))
        if step.meta.get("skip"):
            result = {"name": step.name, "group": step.group, "status": "skipped", "error": step.meta["skip"]}
        elif after is not None and not after.get("best_ckpt"):
            result = {
                "name": step.name,
                "group": step.group,
                "status": "skipped",
                **step.meta,
                "error": f"{after['name']} left no checkpoint",
            }
        elif remaining < 10:
            result = {
                "name": step.name,
                "group": step.group,
                "status": "skipped",
                **step.meta,
                "error": f"the run's budget of {opts.budget_s:.0f} s was spent",
            }
        else:
            if after is not None:  # an evaluation of the checkpoint its training chose
                step.argv = [
                    f"ckpt_path={after['best_ckpt']}" if a.startswith("ckpt_path=") else a for a in step.argv
                ]
            progress(start, f"({i}/{len(steps)}) {step.name} ...")
            result = run_step(step, out_dir / "logs", min(step.budget_s, remaining), env)
            collect(step, result)
        results.append(result)
        by_name[step.name] = result
        progress(
            start,
            f"({i}/{len(steps)}) {step.name}: {result['status']}"
            + (f" ({result['seconds']:.1f} s)" if "seconds" in result else "")
            + (f" - {result['error']}" if result.get("error") else ""),
        )
    n_test = next((r["splits"].get("test") for r in results if r["group"] == "data" and "splits" in r), None)
    return {
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(["python -m fer_lightning.bench.gpu_check", *sys.argv[1:]]),
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(opts).items()},
        "environment": environment(),
        "steps": results,
        "parity": parity_table(results, n_test),
        "seconds": round(time.perf_counter() - start, 1),
    }


def _fmt(value, kind: str = "num") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if kind == "pct":
        return f"{100 * value:.2f} %"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "bool":
        return "met" if value else "NOT met"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def summary_markdown(summary: dict) -> str:
    """The summary as markdown: environment, steps, tests, benchmark, trainings and precision parity."""
    env = summary.get("environment", {})
    lines = [
        "# GPU check",
        "",
        f"`{summary.get('command', '')}` on {summary.get('created', '')}, {_fmt(summary.get('seconds'))} s in all.",
        "",
        f"- GPU: {env.get('gpu', 'none')} ({env.get('gpu_memory_gib', 'n/a')} GiB, compute capability "
        f"{env.get('capability', 'n/a')}, bf16: {env.get('bf16_supported', 'n/a')})",
        f"- driver {env.get('driver') or 'n/a'}; torch {env.get('torch')}, CUDA {env.get('cuda')}, "
        f"cuDNN {env.get('cudnn')}, Lightning {env.get('pytorch_lightning', 'n/a')}, "
        f"torchmetrics {env.get('torchmetrics', 'n/a')}, Python {env.get('python')}",
        "",
        "## Steps",
        "",
        "| step | status | seconds | note |",
        "|---|---|---|---|",
    ]
    steps = summary.get("steps", [])
    for s in steps:
        note = (s.get("error") or "").replace("|", "/")
        lines.append(f"| {s['name']} | {s['status']} | {_fmt(s.get('seconds'))} | {note} |")
    for s in steps:
        if "tests" in s:
            counts = ", ".join(f"{n} {k}" for k, n in sorted(s["tests"]["counts"].items()))
            lines += [
                "",
                "## GPU tests",
                "",
                counts,
                "",
                "| test | outcome | seconds | detail |",
                "|---|---|---|---|",
            ]
            for case in s["tests"]["cases"]:
                detail = case["detail"].replace("|", "/")
                lines.append(f"| {case['test']} | {case['outcome']} | {_fmt(case['seconds'])} | {detail} |")
    bench = [s for s in steps if "bench" in s]
    if bench:
        lines += [
            "",
            "## Benchmark (`python -m fer_lightning.bench trainer=gpu`, synthetic faces)",
            "",
            "| model | precision | batch | (a) model step img/s | (b) loop img/s | (c) augmentation img/s "
            "| (d) seed reference img/s | b/a | b/d | FER2013 epoch (28,709 / b) s |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in bench:
            b = s["bench"]
            lines.append(
                f"| {s['model']} | {b['setup']['precision']} | {b['setup']['batch_size']} | {_fmt(b['model_step'], 'int')} "
                f"| {_fmt(b['train_loop'], 'int')} | {_fmt(b['augment'], 'int')} | {_fmt(b['reference'], 'int')} "
                f"| {_fmt(b['loop_over_step'])} | {_fmt(b['loop_over_reference'])} "
                f"| {_fmt(b['fer2013_epoch_s_estimate'])} |"
            )
        for s in bench:
            targets = ", ".join(f"{k}: {_fmt(v, 'bool')}" for k, v in s["bench"]["targets"].items())
            lines.append(f"\nTargets for {s['model']}: {targets}.")
    trainings = [s for s in steps if s["group"] == "train"]
    if trainings:
        evals = {s.get("recipe"): s for s in steps if s["group"] == "eval"}
        lines += [
            "",
            "## FER2013 trainings (`trainer=gpu data.val_source=carve`: validation carved from Training; the test "
            "split is PublicTest, or PrivateTest where the file has it)",
            "",
            "| recipe | status | epochs | s/epoch | total s | best val acc | test acc | test acc ten-crop "
            "| peak MiB | memory growth MiB |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in trainings:
            tencrop = evals.get(s.get("recipe"), {}).get("accuracy")
            lines.append(
                f"| {s.get('recipe')} | {s['status']} | {_fmt(s.get('epochs'), 'int')} | {_fmt(s.get('seconds_per_epoch'))} "
                f"| {_fmt(s.get('seconds'))} | {_fmt(s.get('best_val_acc'), 'pct')} | {_fmt(s.get('test_acc'), 'pct')} "
                f"| {_fmt(tencrop, 'pct')} | {_fmt(s.get('peak_memory_mib'))} | {_fmt(s.get('memory_growth_mib'))} |"
            )
    parity = summary.get("parity") or {}
    if parity.get("rows"):
        runs = [s for s in steps if s["group"] == "parity"]
        seeds = sorted({s.get("seed") for s in runs})
        epochs = summary.get("options", {}).get("parity_epochs")
        lines += [
            "",
            f"## Precision parity (experiment=dinh_gray, {epochs} epochs, seeds {', '.join(map(str, seeds))})",
            "",
            "| precision | runs | test acc (mean) | delta vs 32-true | within noise |",
            "|---|---|---|---|---|",
        ]
        for precision, row in parity["rows"].items():
            within = row.get("within_noise")
            lines.append(
                f"| {precision} | {row['runs']} | {_fmt(row['test_acc'], 'pct')} "
                f"| {_fmt(row.get('delta_vs_fp32'), 'pct')} | {'n/a' if within is None else ('yes' if within else 'NO')} |"
            )
        if parity.get("noise_band") is not None:
            lines.append(
                f"\nNoise band: +/- {_fmt(parity['noise_band'], 'pct')} = 2 * sqrt(2) * the binomial standard error "
                f"of the 32-true accuracy on n = {parity['n_test']:,} test images."
            )
    return "\n".join(lines) + "\n"


def write_summary(summary: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write gpu_check.json and gpu_check.md into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "gpu_check.json", out_dir / "gpu_check.md"
    write_json(json_path, summary)  # NaN and infinity become null: the file stays valid JSON
    md_path.write_text(summary_markdown(summary))
    return json_path, md_path


def main(argv: list[str] | None = None) -> int:
    """Check the prerequisites, run the steps, write the summary; the exit code is 0 only if every step passed."""
    start = time.perf_counter()
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    import torch

    if not torch.cuda.is_available():
        print(
            f"gpu-check: no CUDA GPU on this machine (torch {torch.__version__}, built for CUDA "
            f"{torch.version.cuda or 'none'}); nothing was run",
            file=sys.stderr,
        )
        return EXIT_NO_CUDA
    missing = missing_modules()
    if missing:
        print(
            f"gpu-check: missing Python packages: {', '.join(missing)}; carry wheels and install them with "
            "`pip install --no-deps wheels/*` (see the README's GPU check)",
            file=sys.stderr,
        )
        return EXIT_MISSING_PACKAGES
    if opts.data_root and not Path(opts.data_root).expanduser().exists():
        print(f"error: gpu_check: data_root={opts.data_root} does not exist", file=sys.stderr)
        return 2
    out_dir = Path(
        opts.out_dir or REPO / "outputs" / "gpu_check" / dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    )
    out_dir = out_dir.expanduser().resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    progress(start, f"{torch.cuda.get_device_name(0)}; writing to {out_dir}")
    if not opts.data_root:
        progress(start, "no FER2013 given (data_root= or $FER2013_ROOT): trainings and parity are skipped")
    summary = run_check(opts, out_dir, start)
    json_path, md_path = write_summary(summary, out_dir)
    failed = [s["name"] for s in summary["steps"] if s["status"] in ("failed", "timeout")]
    skipped = [s["name"] for s in summary["steps"] if s["status"] == "skipped"]
    progress(
        start,
        f"wrote {json_path} and {md_path}"
        + (f"; failed: {', '.join(failed)}" if failed else "")
        + (f"; skipped: {', '.join(skipped)}" if skipped else ""),
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
