"""Hydra callbacks that run before any job: typed config checks, the run dir's record, a writable outputs dir.

They run before Hydra creates the run dir and writes `.hydra/`: a config error leaves no folder behind, a refused
run writes nothing into the folder it refused, and a resume keeps its own config and overrides in
`.hydra/resume_<n>/` instead of rewriting those of the run it continues.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from fer_lightning.errors import ConfigError, RunDirTakenError
from fer_lightning.runtime.cli import DEFECT_EXIT, USER_ERROR_EXIT, is_user_error, user_error_message
from fer_lightning.runtime.experiments import apply_swaps
from fer_lightning.runtime.rundir import (
    check_resumable,
    ensure_writable,
    holds_run,
    mark_created,
    refuse_taken,
    resume_subdir,
)
from fer_lightning.runtime.schema import check_config_types
from fer_lightning.runtime.validate import validate_config


def _ensure_writable(path: str) -> None:
    try:
        ensure_writable(Path(path))
    except OSError as err:
        raise ConfigError(
            f"the outputs dir {path} cannot be written ({err.strerror}); "
            "set paths.log_dir=<a writable dir> (or hydra.run.dir / hydra.sweep.dir)"
        ) from None


def _exit_on_error(step, *args) -> None:
    # Hydra turns a callback's exception into a warning and goes on; an error must stop the run here.
    try:
        step(*args)
    except Exception as err:
        user_error = is_user_error(err)
        if not user_error or os.environ.get("FER_FULL_ERROR") == "1":
            traceback.print_exc()
        else:
            print(user_error_message(err), file=sys.stderr)
        raise SystemExit(USER_ERROR_EXIT if user_error else DEFECT_EXIT) from None


def resuming(config: DictConfig) -> bool:
    """Whether the command resumes the run in its run dir (resume=true or ckpt_path=last)."""
    return bool(config.get("resume")) or config.get("ckpt_path") == "last"


def prepare_run_dir(config: DictConfig) -> None:
    """Refuse a taken run dir, or point a resume's `.hydra` record to `.hydra/resume_<n>`; then create the dir."""
    run_dir = Path(config.hydra.run.dir)
    if os.environ.get("LOCAL_RANK", "0") != "0":
        # a DDP rank > 0, started by Lightning with rank 0's command line: the dir and its record are rank 0's
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.output_subdir = None
        return
    if resuming(config) and "train" in str(config.hydra.job.config_name):
        check_resumable(run_dir)
        if config.hydra.output_subdir is not None:
            with read_write(config.hydra), open_dict(config.hydra):
                config.hydra.output_subdir = resume_subdir(run_dir)
    else:
        refuse_taken(run_dir)
        if not run_dir.exists():  # this run creates it
            mark_created(run_dir)
    _ensure_writable(str(run_dir))


def refuse_taken_sweep(config: DictConfig) -> None:
    """A sweep numbering its trial dirs 0, 1, ... must not start in a sweep dir that holds numbered trials.

    Hydra would write each trial's `.hydra/` over the earlier trial's before the trial could refuse. Sweeps
    with unique trial dir names (Optuna's `<start time>_<job number>`) may resume in the same sweep dir.
    """
    sweep_dir = Path(config.hydra.sweep.dir)
    subdir = OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir")
    if subdir != "${hydra.job.num}" or not sweep_dir.is_dir():
        return
    taken = sorted(p.name for p in sweep_dir.iterdir() if p.name.isdigit() and holds_run(p))
    if taken:
        raise RunDirTakenError(
            f"sweep dir {sweep_dir} already holds trials ({', '.join(taken[:5])}); runs are never overwritten. "
            "Pick another hydra.sweep.dir (the default is a new timestamped one)."
        )


def check_config(config: DictConfig) -> None:
    """Swap groups an experiment set, then check what needs no data and no torch: types, ranges, ??? values."""
    apply_swaps(config)  # before the check: a swapped group is checked against its own option file
    check_config_types(config)
    validate_config(config)


class PrepareRun(Callback):
    """Before a single run: check the config, protect the run dir's record, say where the outputs go."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        """Check, then create the run dir (Hydra writes `.hydra/` into it next)."""
        _exit_on_error(check_config, config)
        _exit_on_error(prepare_run_dir, config)
        print(f"run dir: {Path(config.hydra.run.dir).resolve()}", file=sys.stderr, flush=True)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        """Refuse a sweep whose trial dirs would land on earlier trials; create the sweep dir."""
        _exit_on_error(refuse_taken_sweep, config)
        _exit_on_error(_ensure_writable, str(config.hydra.sweep.dir))
        print(f"sweep dir: {Path(config.hydra.sweep.dir).resolve()}", file=sys.stderr, flush=True)
