"""A regular (non-editable) install works: the wheel carries the config tree, and fer-train runs outside the repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

# No network: pip builds from the copy and installs the one wheel; the dependencies come from this venv.
PIP_ENV = {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


def clean_env() -> dict[str, str]:
    """This process's environment without what would point Python or the project back at the repo."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FER_ROOT", "PYTHONHOME")}
    return {**env, **PIP_ENV, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def build_wheel(dest: Path) -> Path:
    """Build the project's wheel from a copy of its sources (the build writes nothing into the repo)."""
    source = dest / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(REPO / "src", source / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, source / name)
    dist = dest / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, source],
        check=True,
        env=clean_env(),
        capture_output=True,
        timeout=300,
    )
    return next(dist.glob("fer_lightning-*.whl"))


def fresh_venv(path: Path) -> Path:
    """A venv without pip whose only view of this venv is its site-packages dir, as a plain path line.

    A path line in a .pth file does not process the .pth files inside it, so this venv's editable install
    (a .pth pointing at the repo's src/) stays invisible: fer_lightning can only come from the wheel.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", path], check=True, timeout=120)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "_fer_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.mark.slow
def test_the_wheel_installs_and_trains_outside_the_repo(tmp_path):
    wheel = build_wheel(tmp_path)
    packaged = zipfile.ZipFile(wheel).namelist()
    configs = sorted(
        p.relative_to(REPO / "src").as_posix() for p in (REPO / "src/fer_lightning/conf").rglob("*.yaml")
    )
    assert set(configs) <= set(packaged)  # every config file ships

    python = fresh_venv(tmp_path / "venv")
    # --ignore-installed: pip must neither look at nor uninstall the editable install it can see
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q", wheel],
        check=True,
        env=clean_env(),
        capture_output=True,
        timeout=300,
    )
    work = tmp_path / "work"  # outside the repo: the run's outputs/ lands here
    work.mkdir()
    where = subprocess.run(
        [python, "-c", "import fer_lightning; print(fer_lightning.__file__)"],
        cwd=work,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(tmp_path / "venv"), where

    res = subprocess.run(
        [
            tmp_path / "venv" / "bin" / "fer-train",  # the console script the wheel installed
            "data=synthetic",
            "data.n_train=64",
            "data.n_val=32",
            "data.n_test=32",
            "data.batch_size=32",
            "trainer.max_epochs=1",
            "trainer.accelerator=cpu",
            "callbacks.progress_bar=null",
            "callbacks.early_stopping=null",
        ],
        cwd=work,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (record,) = (work / "outputs" / "runs").glob("*/metrics.json")
    summary = json.loads(record.read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 1
    assert "test/acc" in summary["metrics"]
