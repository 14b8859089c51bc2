"""OmegaConf resolvers used by the configs; registered on import of any entry point."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

# The config tree ships inside the package (src/fer_lightning/conf/), as an absolute path: Hydra then finds it
# whether a main runs as `python -m`, as a console script (fer-train) or is imported, from any working directory,
# from an editable or a regular install.
CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def project_root() -> str:
    """$FER_ROOT, else the repo root for an editable install (where pyproject.toml lives), else the working directory."""
    if os.environ.get("FER_ROOT"):
        return str(Path(os.environ["FER_ROOT"]).expanduser().resolve())
    repo = Path(__file__).resolve().parents[3]
    if (repo / "pyproject.toml").is_file() and (repo / "src" / "fer_lightning").is_dir():
        return str(repo)
    return str(Path.cwd())


def sweep_name(output_dir: str, default: str) -> str:
    """The sweep dir's name for a job of a multirun (one tracker experiment per sweep), else `default`."""
    from fer_lightning.runtime.task import in_multirun

    return Path(output_dir).parent.name if in_multirun() else default


def register_resolvers() -> None:
    """Register `${fer.project_root:}`, `${fer.sweep_name:<run dir>,<default>}`, `${fer.basename:<path>}` (idempotent)."""
    if not OmegaConf.has_resolver("fer.project_root"):
        OmegaConf.register_new_resolver("fer.project_root", project_root)
    if not OmegaConf.has_resolver("fer.sweep_name"):
        OmegaConf.register_new_resolver("fer.sweep_name", sweep_name)
    if not OmegaConf.has_resolver("fer.basename"):
        OmegaConf.register_new_resolver("fer.basename", lambda path: Path(str(path)).name)


register_resolvers()
