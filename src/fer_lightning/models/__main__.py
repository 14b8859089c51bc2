"""`python -m fer_lightning.models [format=json]`: list the registered networks with parameters and MACs."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from fer_lightning.errors import FERError
from fer_lightning.models.summary import print_models
from fer_lightning.runtime.resolvers import CONF_DIR


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="models")
def main(cfg: DictConfig) -> None:
    """Print the model zoo in `cfg.format` (table or json)."""
    try:
        print_models(cfg.format)
    except FERError as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
