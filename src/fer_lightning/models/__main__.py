"""`python -m fer_lightning.models [format=json]`: list the registered networks with parameters and MACs."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from fer_lightning.models.summary import print_models
from fer_lightning.runtime.cli import exit_on_error, run_cli
from fer_lightning.runtime.resolvers import CONF_DIR


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="models")
def hydra_main(cfg: DictConfig) -> None:
    """Print the model zoo in `cfg.format` (table or json)."""
    exit_on_error(print_models, cfg.format)


def main() -> None:
    """Command-line entry point: a user error is one paragraph and exit code 2."""
    run_cli(hydra_main)


if __name__ == "__main__":
    main()
