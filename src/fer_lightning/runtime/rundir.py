"""Run directories: never reused, never overwritten, and unwritable locations reported before any work."""

from __future__ import annotations

import os
from pathlib import Path

from fer_lightning.errors import ConfigError, RunDirTakenError

RUN_MARKERS = ("metrics.json", "checkpoints", "epoch_metrics.json")


def ensure_writable(path: Path) -> None:
    """Create `path` and write a probe file in it; raises the OSError when either fails."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f".write_probe_{os.getpid()}"
    probe.write_text("ok")
    probe.unlink()


def check_fresh_run_dir(output_dir: Path, resuming: bool = False) -> None:
    """Fail when the run dir already holds another run's results (unless resuming it) or cannot be written."""
    output_dir = Path(output_dir)
    if not resuming:
        taken = [m for m in RUN_MARKERS if (output_dir / m).exists()]
        if taken:
            raise RunDirTakenError(
                f"run dir {output_dir} already holds a run ({', '.join(taken)}); runs are never overwritten. "
                "Pick another hydra.run.dir, or resume it with resume=true hydra.run.dir=<that dir>."
            )
    try:
        ensure_writable(output_dir)
    except OSError as err:
        raise ConfigError(
            f"the outputs dir {output_dir} is not writable ({err.strerror}); set paths.log_dir=<a writable dir>"
        ) from err
