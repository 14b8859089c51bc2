"""The wrapper every Hydra main runs its task through: clear errors, failure records, sweep isolation."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from fer_lightning.errors import FERError, RunDirTakenError
from fer_lightning.runtime.cli import exit_with_user_error
from fer_lightning.runtime.experiments import apply_swaps
from fer_lightning.runtime.jsonio import write_json
from fer_lightning.runtime.rundir import remove_if_empty_failure
from fer_lightning.runtime.schema import check_config_types

log = logging.getLogger("fer_lightning")


def in_multirun() -> bool:
    """Whether this process runs one job of a Hydra multirun."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    except Exception:  # outside Hydra (tests calling train() directly)
        return False


def error_summary(err: BaseException) -> str:
    """`<type>: <message>` on one line; a Hydra instantiation error shows the error it wraps."""
    from fer_lightning.runtime.cli import one_paragraph

    cause = err
    while type(cause).__name__ == "InstantiationException" and cause.__cause__ is not None:
        cause = cause.__cause__
    return f"{type(cause).__name__}: {one_paragraph(str(cause) or type(cause).__name__)}"


def record_failure(output_dir: Path, err: BaseException) -> None:
    """Write a metrics.json with status 'failed' and the error, so the report lists the trial.

    A completed run's record is never replaced (a failed resume of it leaves it as it was).
    """
    path = Path(output_dir) / "metrics.json"
    with contextlib.suppress(OSError, ValueError):
        if path.is_file() and json.loads(path.read_text()).get("status") == "completed":
            return
    payload = {"status": "failed", "error": error_summary(err), "traceback": traceback.format_exc()}
    # When the outputs dir itself is the problem, the logged message still says what failed.
    with contextlib.suppress(OSError):
        write_json(path, payload)


def run_task(task: Callable[[DictConfig], tuple[dict, dict]], cfg: DictConfig) -> float | None:
    """Run a task; return the optimized metric, or None for a failed trial so the sweep carries on.

    None, not NaN: the Optuna sweeper records a None trial as failed and goes on, while NaN crashes it.
    A user error of a single run is raised on to the command's one-paragraph handler; the run dir it created
    is removed when it holds no results yet, so mistakes do not clutter outputs/runs.
    """
    output_dir = Path(cfg.paths.output_dir)
    multirun = in_multirun()
    try:
        if multirun:
            # a single run was prepared before its run dir existed (hydra_callbacks.PrepareRun)
            apply_swaps(cfg)
            check_config_types(cfg)
        metrics, _ = task(cfg)
    except FERError as err:
        if multirun:
            record_failure(output_dir, err)
            log.error("%s", err)
            return None
        # never touch the record of the run that holds the dir
        if not isinstance(err, RunDirTakenError) and not remove_if_empty_failure(output_dir):
            record_failure(output_dir, err)
        exit_with_user_error(err)
    except Exception as err:
        record_failure(output_dir, err)
        if multirun:
            log.exception("trial failed; the remaining trials go on")
            return None
        raise
    print(f"run dir: {output_dir.resolve()} (done)", file=sys.stderr, flush=True)
    value = metrics.get(cfg.get("optimized_metric") or "")
    return float(value) if value is not None and math.isfinite(float(value)) else None
