"""Train a FER model: `python -m fer_lightning.train [group=option ...] [key=value ...]` (or `fer-train`)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from fer_lightning.runtime.cli import run_cli
from fer_lightning.runtime.resolvers import CONF_DIR  # also registers ${fer.*} before Hydra composes
from fer_lightning.runtime.task import run_task


def train(cfg: DictConfig) -> tuple[dict, dict]:
    """Fit, then test the best checkpoint; write `metrics.json` into the run dir and return (metrics, objects)."""
    # Imported here: torch and Lightning take seconds to import, and `--help` or a config error need neither.
    from fer_lightning.training import train as run_training

    return run_training(cfg)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    """Hydra entry point: returns the metric a sweeper optimises (None for a failed trial)."""
    return run_task(train, cfg)


def main() -> None:
    """Command-line entry point (`fer-train`): a user error is one paragraph and exit code 2."""
    run_cli(hydra_main)


if __name__ == "__main__":
    main()
