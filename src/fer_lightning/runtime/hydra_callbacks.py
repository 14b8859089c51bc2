"""Hydra callbacks that run before any job: the outputs dir must be writable."""

from __future__ import annotations

from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from fer_lightning.runtime.rundir import ensure_writable


def _ensure_writable(path: str) -> None:
    try:
        ensure_writable(Path(path))
    except OSError as err:
        # SystemExit: Hydra prints the message as is, with no stack trace to wade through.
        raise SystemExit(
            f"error: the outputs dir {path} cannot be written ({err.strerror}); "
            "set paths.log_dir=<a writable dir> (or hydra.run.dir / hydra.sweep.dir)"
        ) from None


class CheckOutputsWritable(Callback):
    """Fail fast, with the key to change, when the run or sweep dir cannot be created."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        """Create the run dir before Hydra does, turning its OS error into a clear message."""
        _ensure_writable(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        """Create the sweep dir before any trial starts."""
        _ensure_writable(config.hydra.sweep.dir)
