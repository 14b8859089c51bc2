"""The wrapper every Hydra main runs its task through: clear errors, failure records, sweep isolation."""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from fer_lightning.errors import FERError, RunDirTakenError
from fer_lightning.runtime.jsonio import write_json

log = logging.getLogger("fer_lightning")


def in_multirun() -> bool:
    """Whether this process runs one job of a Hydra multirun."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    except Exception:  # outside Hydra (tests calling train() directly)
        return False


def record_failure(output_dir: Path, err: BaseException) -> None:
    """Write a metrics.json with status 'failed' and the error, so the report lists the trial."""
    first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    payload = {
        "status": "failed",
        "error": f"{type(err).__name__}: {first_line}",
        "traceback": traceback.format_exc(),
    }
    # When the outputs dir itself is the problem, the logged message still says what failed.
    with contextlib.suppress(OSError):
        write_json(Path(output_dir) / "metrics.json", payload)


def run_task(task: Callable[[DictConfig], tuple[dict, dict]], cfg: DictConfig) -> float | None:
    """Run a task; return the optimized metric, or None for a failed trial so the sweep carries on.

    None, not NaN: the Optuna sweeper records a None trial as failed and goes on, while NaN crashes it.
    """
    output_dir = Path(cfg.paths.output_dir)
    try:
        metrics, _ = task(cfg)
    except FERError as err:
        if not isinstance(err, RunDirTakenError):  # never overwrite the record of the run that holds the dir
            record_failure(output_dir, err)
        log.error("%s", err)
        if in_multirun():
            return None
        sys.exit(2)  # a user error: the message says what to change, a traceback would bury it
    except Exception as err:
        record_failure(output_dir, err)
        if in_multirun():
            log.exception("trial failed; the remaining trials go on")
            return None
        raise
    value = metrics.get(cfg.get("optimized_metric") or "")
    return float(value) if value is not None and math.isfinite(float(value)) else None
