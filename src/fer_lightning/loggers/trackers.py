"""MLflow in an embedded SQLite store and W&B offline: Lightning's loggers with the defaults a local run needs."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import MLFlowLogger, WandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_only

from fer_lightning.errors import ConfigError
from fer_lightning.loggers.params import flat_params

log = logging.getLogger("fer_lightning")


def require(module: str, option: str) -> None:
    """Fail with the install command when an optional tracker package is missing."""
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"{option} needs the `{module}` package, which the `trackers` extra installs: "
            "pip install -e '.[trackers]' (make install includes it)"
        )


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a `sqlite:///<path>` URI (None for other stores)."""
    prefix = "sqlite:///"
    return Path(tracking_uri[len(prefix) :]) if tracking_uri.startswith(prefix) else None


class MLflowTracker(MLFlowLogger):
    """Lightning's MLFlowLogger over a local SQLite store: no server, the store's folder made on first use.

    The experiment is looked up or created quietly (two trials of one sweep may create it at once), and params
    are the flattened run config (`optimizer.lr`) with values up to MLflow's length limit, not Lightning's 250.
    """

    def __init__(self, experiment_name: str, tracking_uri: str, **kwargs: Any) -> None:
        require("mlflow", "logger=mlflow")
        database = sqlite_path(tracking_uri)
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(experiment_name=experiment_name, tracking_uri=tracking_uri, **kwargs)

    def _experiment_id_for(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self._mlflow_client.get_experiment_by_name(name)
        if found is None:
            try:
                return self._mlflow_client.create_experiment(name, artifact_location=self._artifact_location)
            except MlflowException:  # a parallel trial of the same sweep created it first
                found = self._mlflow_client.get_experiment_by_name(name)
        if found is None or found.lifecycle_stage == "deleted":
            raise ConfigError(
                f"logger.mlflow.experiment_name={name}: that MLflow experiment was deleted; restore it "
                f"(mlflow experiments restore) or choose another name"
            )
        return found.experiment_id

    @property
    @rank_zero_experiment
    def experiment(self):
        """The MlflowClient, with this run's experiment and run created on first use."""
        if self._experiment_id is None and self._run_id is None:
            self._experiment_id = self._experiment_id_for(self._experiment_name)
        return super().experiment

    @rank_zero_only
    def log_hyperparams(self, params) -> None:
        """Log the run config as flat params, 100 per call (MLflow's batch limit)."""
        from mlflow.entities import Param
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

        batch = [Param(key, str(value)[:MAX_PARAM_VAL_LENGTH]) for key, value in flat_params(params).items()]
        for start in range(0, len(batch), 100):
            self.experiment.log_batch(
                run_id=self.run_id, params=batch[start : start + 100], **self._log_batch_kwargs
            )


class WandbTracker(WandbLogger):
    """Lightning's WandbLogger logging the flattened run config; offline unless the config says otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        require("wandb", "logger=wandb")
        super().__init__(**kwargs)
        if self._wandb_init.get("anonymous") is None:
            # Lightning always passes `anonymous`, and wandb 0.31 warns that the setting has no effect
            self._wandb_init.pop("anonymous", None)

    @rank_zero_only
    def log_hyperparams(self, params) -> None:
        """Log the run config under its dotted keys, as MLflow gets it."""
        super().log_hyperparams(flat_params(params))


def finish_runs(loggers, failed: bool = False) -> None:
    """Close the W&B runs of a trainer's loggers, so the next trial of a sweep starts its own run.

    Lightning's WandbLogger leaves its run open at the end of fit and test, and a new WandbLogger in the same
    process would reuse it. MLflow runs are closed by Lightning itself.
    """
    for logger in loggers:
        # the private attribute: reading `experiment` would start a run only to close it
        run = getattr(logger, "_experiment", None) if isinstance(logger, WandbLogger) else None
        if run is None or not hasattr(run, "finish"):
            continue
        offline = run.settings.mode in ("offline", "dryrun")  # Lightning asks for offline as "dryrun"
        folder = Path(run.dir).parent  # run.dir is the run's files/ folder
        run.finish(exit_code=1 if failed else 0)
        if offline:
            log.info("W&B offline run: %s (upload with `wandb sync %s`)", folder, folder)
