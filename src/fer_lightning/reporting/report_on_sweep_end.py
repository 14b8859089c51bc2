"""A Hydra callback that writes the results table when a multirun ends."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from fer_lightning.reporting.report_files import write_report

log = logging.getLogger(__name__)


class WriteReport(Callback):
    """After every trial of a sweep has run, write report.csv/.md and the figures into the sweep dir."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        """Build the report; a failure here is logged, never raised (the trials' own results are on disk)."""
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            written = write_report(sweep_dir)
            log.info("sweep report: %s", written["md"])
        except Exception as err:  # the report can always be rebuilt with `python -m fer_lightning.report`
            log.warning("could not write the sweep report in %s: %s", sweep_dir, err)
