"""Experiment trackers for the `logger` config group: MLflow (embedded store) and W&B (offline) beside
Lightning's TensorBoard and CSV loggers, the run config as flat params, the run's figures as artifacts."""

from fer_lightning.loggers.artifacts import log_files
from fer_lightning.loggers.params import flat_params
from fer_lightning.loggers.trackers import MLflowTracker, WandbTracker, finish_runs

__all__ = ["MLflowTracker", "WandbTracker", "finish_runs", "flat_params", "log_files"]
