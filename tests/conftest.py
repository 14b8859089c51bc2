"""Shared fixtures: composing the real Hydra configs into a temporary run dir, and locating ../shared data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from fer_lightning import notebook_utils

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "src" / "fer_lightning" / "conf"
SHARED = REPO.parent / "shared"
FER2013_GZ = SHARED / "data" / "fer2013" / "fer2013.csv.gz"

# Small, fast defaults for every composed training config in the suite.
FAST = [
    "data=synthetic",
    "data.n_train=384",
    "data.n_val=128",
    "data.n_test=128",
    "data.batch_size=64",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "callbacks.progress_bar=null",
    "callbacks.early_stopping=null",
]

# Under pytest-xdist (`make test` runs 2 workers) each worker gets one core: two workers at two threads each would
# oversubscribe a 2-core machine, which slows a training far more than the parallelism gains.
THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, os.cpu_count() or 1))
torch.set_num_threads(THREADS)
os.environ["OMP_NUM_THREADS"] = str(THREADS)  # what the commands a test starts inherit


def compose_config(config_name: str, overrides: list[str], run_dir: Path) -> DictConfig:
    """Compose a config the way the Hydra main would, with its run dir set to `run_dir` and outputs beside it."""
    cfg = notebook_utils.compose_config(config_name, overrides, run_dir)
    with open_dict(cfg):
        cfg.paths.log_dir = str(Path(run_dir).parent)
    return cfg


@pytest.fixture
def train_cfg(tmp_path):
    """Factory: a composed train config with the fast defaults plus `overrides`, in a fresh run dir."""
    counter = iter(range(1000))

    def make(*overrides: str, fast: bool = True, config_name: str = "train") -> DictConfig:
        run_dir = tmp_path / f"run{next(counter)}"
        return compose_config(config_name, (FAST if fast else []) + list(overrides), run_dir)

    yield make
    GlobalHydra.instance().clear()


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300):
    """Run `python -m ...` as a user would, returning the CompletedProcess (stdout+stderr captured)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(THREADS), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def fer2013_gz() -> Path:
    """The real FER2013 development copy beside the repo; skips when absent (a user's machine has none)."""
    if not FER2013_GZ.is_file():
        pytest.skip(f"real FER2013 not available at {FER2013_GZ}")
    return FER2013_GZ
