"""Results table of a sweep or runs folder: `python -m fer_lightning.report <dir>` (or `dir=<dir>`)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from fer_lightning.errors import ConfigError
from fer_lightning.runtime.cli import exit_on_error, run_cli
from fer_lightning.runtime.resolvers import CONF_DIR


def report_dir(cfg: DictConfig) -> str:
    """The folder to report on (`dir=`, or the command's first argument)."""
    if OmegaConf.is_missing(cfg, "dir"):
        raise ConfigError(
            "report: which folder? python -m fer_lightning.report outputs/runs (a sweep dir, or any folder of runs)"
        )
    return str(cfg.dir)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="report")
def _hydra_main(cfg: DictConfig) -> None:
    # imported here: pandas and torch load only when a report is written, so --help stays fast
    from fer_lightning.reporting.report_files import write_report

    written = exit_on_error(write_report, exit_on_error(report_dir, cfg), str(cfg.sort_by))
    print((Path(cfg.dir) / "report.md").read_text())
    print("wrote " + ", ".join(str(p) for p in written.values()))


def main() -> None:
    """Accept the dir as a plain positional argument as well as `dir=...`."""
    sys.argv = sys.argv[:1] + [a if ("=" in a or a.startswith("-")) else f"dir={a}" for a in sys.argv[1:]]
    run_cli(_hydra_main)


if __name__ == "__main__":
    main()
