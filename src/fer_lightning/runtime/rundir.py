"""Run directories: never reused, never overwritten, and unwritable locations reported before any work."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from fer_lightning.errors import ConfigError, RunDirTakenError

RUN_MARKERS = ("metrics.json", "checkpoints", "epoch_metrics.json")
# what a run leaves that is worth keeping after it failed: a failed run without them is removed again
RESULTS = ("checkpoints", "epoch_metrics.json", "tensorboard")
RESUME_PREFIX = "resume_"

# run dirs this process created (not resumed): removed again when the run fails on a user error before results
_created: set[str] = set()


def ensure_writable(path: Path) -> None:
    """Create `path` and write a probe file in it; raises the OSError when either fails."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f".write_probe_{os.getpid()}"
    probe.write_text("ok")
    probe.unlink()


def holds_run(run_dir: Path, markers: tuple[str, ...] = (*RUN_MARKERS, ".hydra/config.yaml")) -> list[str]:
    """What marks `run_dir` as holding a run's record (empty when it holds none)."""
    return [m for m in markers if (Path(run_dir) / m).exists()]


def resume_subdir(run_dir: Path) -> str:
    """Where a resume of `run_dir` keeps its own config and overrides: `.hydra/resume_<n>`, the next free n."""
    hydra_dir = Path(run_dir) / ".hydra"
    taken = [p.name for p in hydra_dir.glob(f"{RESUME_PREFIX}*")] if hydra_dir.is_dir() else []
    numbers = [int(n.removeprefix(RESUME_PREFIX)) for n in taken if n.removeprefix(RESUME_PREFIX).isdigit()]
    return f".hydra/{RESUME_PREFIX}{max(numbers, default=0) + 1}"


def check_resumable(run_dir: Path) -> None:
    """Fail unless `run_dir` holds an unfinished run with a last checkpoint."""
    last = Path(run_dir) / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise ConfigError(
            f"resume: {last} does not exist; pass hydra.run.dir=<the run dir to resume> "
            "(it must hold checkpoints/last.ckpt)"
        )
    metrics = Path(run_dir) / "metrics.json"
    try:
        status = json.loads(metrics.read_text()).get("status") if metrics.is_file() else None
    except (OSError, ValueError):
        status = None
    if status == "completed":
        raise ConfigError(
            f"resume: the run in {run_dir} has completed (its metrics.json says so); its record is kept as it "
            "is. Start a new run, e.g. init_from=<its checkpoint> to continue from its weights."
        )


def refuse_taken(run_dir: Path, markers: tuple[str, ...] = (*RUN_MARKERS, ".hydra/config.yaml")) -> None:
    """Fail when `run_dir` already holds another run's results; runs are never overwritten."""
    taken = holds_run(run_dir, markers)
    if taken:
        raise RunDirTakenError(
            f"run dir {run_dir} already holds a run ({', '.join(taken)}); runs are never overwritten. "
            "Pick another hydra.run.dir, or resume it with resume=true hydra.run.dir=<that dir>."
        )


def mark_created(run_dir: Path) -> None:
    """Remember that this process created `run_dir` (so a user error can take it away again)."""
    _created.add(str(Path(run_dir).resolve()))


def remove_if_empty_failure(run_dir: Path) -> bool:
    """Remove a run dir this process created when it holds no results; returns whether it was removed."""
    run_dir = Path(run_dir).resolve()
    if str(run_dir) not in _created or any((run_dir / r).exists() for r in RESULTS):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    _created.discard(str(run_dir))
    return not run_dir.exists()


def check_fresh_run_dir(output_dir: Path, resuming: bool = False) -> None:
    """Fail when the run dir already holds another run's results (unless resuming it) or cannot be written."""
    output_dir = Path(output_dir)
    if not resuming:
        refuse_taken(output_dir, RUN_MARKERS)  # .hydra/ is this run's own: Hydra wrote it before the task
    try:
        ensure_writable(output_dir)
    except OSError as err:
        raise ConfigError(
            f"the outputs dir {output_dir} is not writable ({err.strerror}); set paths.log_dir=<a writable dir>"
        ) from err
