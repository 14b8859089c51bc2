"""Results table of a sweep or runs folder: `python -m fer_lightning.report <dir>` (or `dir=<dir>`)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from fer_lightning.errors import ConfigError
from fer_lightning.reporting.report_files import write_report
from fer_lightning.runtime.cli import exit_on_error, exit_with_user_error, run_cli
from fer_lightning.runtime.resolvers import CONF_DIR


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="report")
def _hydra_main(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "dir"):
        exit_with_user_error(
            ConfigError(
                "report: which folder? python -m fer_lightning.report outputs/runs "
                "(a sweep dir, or any folder of runs)"
            )
        )
    written = exit_on_error(write_report, str(cfg.dir), str(cfg.sort_by))
    print((Path(cfg.dir) / "report.md").read_text())
    print("wrote " + ", ".join(str(p) for p in written.values()))


def main() -> None:
    """Accept the dir as a plain positional argument as well as `dir=...`."""
    sys.argv = sys.argv[:1] + [a if ("=" in a or a.startswith("-")) else f"dir={a}" for a in sys.argv[1:]]
    run_cli(_hydra_main)


if __name__ == "__main__":
    main()
