"""OmegaConf resolvers used by the configs; registered on import of any entry point."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

# The config tree, as an absolute path: Hydra then finds it whether a main runs as `python -m`, as a
# console script (fer-train) or is imported, and from any working directory.
CONF_DIR = str(Path(__file__).resolve().parents[3] / "conf")


def project_root() -> str:
    """The repo root for an editable install (where conf/ lives), else $FER_ROOT, else the working directory."""
    if os.environ.get("FER_ROOT"):
        return str(Path(os.environ["FER_ROOT"]).expanduser().resolve())
    repo = Path(__file__).resolve().parents[3]
    if (repo / "pyproject.toml").is_file() and (repo / "conf").is_dir():
        return str(repo)
    return str(Path.cwd())


def register_resolvers() -> None:
    """Register `${fer.project_root:}` (idempotent)."""
    if not OmegaConf.has_resolver("fer.project_root"):
        OmegaConf.register_new_resolver("fer.project_root", project_root)


register_resolvers()
