"""Runs one recipe to completion as child processes of the ordinary commands: train (or resume), then eval."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path

from fer_lightning.reproduce.plan import Recipe, epochs_done, read_json, run_state
from fer_lightning.runtime.jsonio import write_json

log = logging.getLogger("fer_lightning")


def machine_info() -> dict:
    """CPU model, core count, native bf16, Python and torch versions, and the git commit of the code."""
    cpu, flags = platform.processor() or "unknown", ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        cpu = next(
            (ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), cpu
        )
        flags = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    except OSError:
        pass
    import torch

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "avx512_bf16": "avx512_bf16" in flags.split(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "commit": git_commit(),
    }


def git_commit() -> str | None:
    """`git describe --always --dirty` of the package's checkout, or None outside a git tree."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _run(cmd: list[str], log_path: Path) -> int:
    """Run a command with its output appended to log_path (the console shows one line per step)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        return subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode


def _set_aside(run_dir: Path) -> Path:
    """Move a failed or checkpoint-less run's files out of the way (the lock stays), keeping its record."""
    n = 1
    while (target := run_dir.with_name(f"{run_dir.name}.attempt{n}")).exists():
        n += 1
    target.mkdir()
    for path in run_dir.iterdir():
        if path.name != ".reproduce.lock":
            path.rename(target / path.name)
    return target


def train_command(recipe: Recipe, run_dir: Path, data_root: str, common: list[str]) -> list[str]:
    """The `python -m fer_lightning.train` command line of a recipe (or of its resumption)."""
    base = [sys.executable, "-m", "fer_lightning.train"]
    if run_state(run_dir) == "resume":
        return [*base, "resume=true", f"hydra.run.dir={run_dir}"]
    return [
        *base,
        f"experiment={recipe.name}",
        f"data.root={data_root}",
        *common,
        *recipe.overrides,
        f"trainer.max_epochs={recipe.planned_epochs}",
        f"hydra.run.dir={run_dir}",
    ]


def _claim(run_dir: Path) -> int | None:
    """Take the run dir's lock for this process; the pid of a live process holding it instead, else None."""
    lock = run_dir / ".reproduce.lock"
    run_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
                os.kill(pid, 0)
                return pid
            except (ValueError, ProcessLookupError, OSError):
                lock.unlink(missing_ok=True)  # left by a process that died: take it over
                continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        return None
    return None


def train_recipe(recipe: Recipe, run_dir: Path, data_root: str, common: list[str]) -> str:
    """Train (or resume, or skip when done) one recipe; return its final state ('busy' if another process has it)."""
    state = run_state(run_dir)
    if state == "done":
        return state
    holder = _claim(run_dir)
    if holder is not None:
        log.warning("%s: %s is being trained by process %d; skipped here", recipe.name, run_dir, holder)
        return "busy"
    try:
        return _train_claimed(recipe, run_dir, data_root, common)
    finally:
        (run_dir / ".reproduce.lock").unlink(missing_ok=True)


def _train_claimed(recipe: Recipe, run_dir: Path, data_root: str, common: list[str]) -> str:
    state = run_state(run_dir)
    if state in ("failed", "new") and any(p.name != ".reproduce.lock" for p in run_dir.iterdir()):
        log.info(
            "%s: setting aside %s (no checkpoint to resume) -> %s", recipe.name, run_dir, _set_aside(run_dir)
        )
    cmd = train_command(recipe, run_dir, data_root, common)
    run_dir.mkdir(parents=True, exist_ok=True)
    record = read_json(run_dir / "reproduce.json") or {"launches": []}
    record["launches"].append({"started": dt.datetime.now().isoformat(timespec="seconds"), **machine_info()})
    write_json(run_dir / "reproduce.json", record)
    log.info(
        "%s: %s (%d epochs done)",
        recipe.name,
        "resuming" if "resume=true" in cmd else "training",
        len(epochs_done(run_dir)),
    )
    rc = _run(cmd, run_dir / "reproduce.log")
    state = run_state(run_dir)
    if rc != 0 or state != "done":
        log.error(
            "%s: training ended with exit code %d (state %s); see %s",
            recipe.name,
            rc,
            state,
            run_dir / "reproduce.log",
        )
    return state


def evaluate_recipe(run_dir: Path, tta_modes: list[str]) -> dict[str, float]:
    """Accuracy of the run's best-validation checkpoint on its test split for each TTA mode (cached per mode)."""
    metrics = read_json(run_dir / "metrics.json") or {}
    ckpt = metrics.get("best_ckpt")
    out: dict[str, float] = {}
    for tta in tta_modes:
        eval_dir = run_dir / f"eval_{tta}"
        result = read_json(eval_dir / "metrics.json")
        if result is None and ckpt and Path(ckpt).is_file():
            cmd = [
                sys.executable,
                "-m",
                "fer_lightning.eval",
                f"ckpt_path={ckpt}",
                "split=test",
                f"tta={tta}",
                f"hydra.run.dir={eval_dir}",
            ]
            _run(cmd, run_dir / "reproduce.log")
            result = read_json(eval_dir / "metrics.json")
        if result and "accuracy" in result:
            out[tta] = float(result["accuracy"])
    return out


def probe_recipe(recipe: Recipe, run_dir: Path, data_root: str, common: list[str], steps: int) -> dict | None:
    """CPU img/s and seconds per epoch of a recipe too heavy to train here, from timed steps on the real data."""
    path = run_dir / "cpu_probe.json"
    cached = read_json(path)
    if cached:
        return cached
    run_dir.mkdir(parents=True, exist_ok=True)
    overrides = [f"experiment={recipe.name}", f"data.root={data_root}", *common, *recipe.overrides]
    cmd = [sys.executable, "-m", "fer_lightning.reproduce.probe", f"steps={steps}", *overrides]
    if _run(cmd + [f"out={path}"], run_dir / "reproduce.log") != 0:
        return None
    result = read_json(path)
    if result:
        result["machine"] = machine_info()
        write_json(path, result)
    return result


def dump(obj) -> str:
    """Compact JSON for log lines."""
    return json.dumps(obj, default=str)
