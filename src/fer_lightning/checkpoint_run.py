"""What the commands that consume a trained checkpoint share: eval, export, predict and visualize (demo: the check).

Each checks that `ckpt_path` is given, makes its run dir, loads the classifier on the device asked for, and ends by
writing its record and its config into the run dir: one place, so their messages and the way they write files
(atomically, a kill mid-write leaves the previous file) cannot drift apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, ListConfig, OmegaConf

from fer_lightning.errors import ConfigError
from fer_lightning.runtime.jsonio import write_json, write_text

if TYPE_CHECKING:
    from fer_lightning.module.classifier import FERClassifier

log = logging.getLogger("fer_lightning")


def require_checkpoint(cfg: DictConfig, command: str, usage: str) -> str:
    """`cfg.ckpt_path`, or a ConfigError showing the command line that gives it (`usage`: its arguments)."""
    if not cfg.get("ckpt_path"):
        raise ConfigError(f"ckpt_path is required: python -m fer_lightning.{command} {usage}")
    return str(cfg.ckpt_path)


@dataclass
class CheckpointRun:
    """One run of a command over a checkpoint: the command's config and its run dir."""

    cfg: DictConfig
    output_dir: Path

    @classmethod
    def start(cls, cfg: DictConfig, command: str, usage: str) -> CheckpointRun:
        """Check that `ckpt_path` is given and make the run dir."""
        require_checkpoint(cfg, command, usage)
        output_dir = Path(cfg.paths.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        return cls(cfg, output_dir)

    @property
    def ckpt_paths(self) -> list[str]:
        """The checkpoints given: one, or the members of an ensemble (`ckpt_path=[a.ckpt,b.ckpt]`, eval only)."""
        value = self.cfg.ckpt_path
        return [str(p) for p in value] if isinstance(value, ListConfig | list) else [str(value)]

    @property
    def ckpt_path(self) -> str:
        """The checkpoint, as given; a ConfigError for a list (only eval averages several)."""
        paths = self.ckpt_paths
        if len(paths) != 1:
            raise ConfigError(
                f"ckpt_path={paths}: this command reads one checkpoint; only fer_lightning.eval takes a list "
                "(the ensemble of its members)"
            )
        return paths[0]

    def load_classifier(self, ckpt_path: str | None = None) -> tuple[FERClassifier, DictConfig]:
        """The trained classifier of `ckpt_path` (default: the one given), in eval mode on the CPU, and the
        config of the run that wrote it."""
        # Imported here: torch takes seconds to import, and `--help` or a config error need none of it.
        from fer_lightning.build import load_classifier

        return load_classifier(ckpt_path or self.ckpt_path)

    def device(self) -> str:
        """The device of `device=` (auto: the GPU when there is one)."""
        from fer_lightning.runtime.device import resolve_device

        return resolve_device(self.cfg.get("device"))

    def finish(self, record_name: str | None, record: dict | None, message: str) -> None:
        """Write `record` as JSON (when named) and the command's config into the run dir; log `message`."""
        if record_name:
            write_json(self.output_dir / record_name, record)
        write_text(self.output_dir / "config.yaml", OmegaConf.to_yaml(self.cfg))
        log.info("%s", message)
