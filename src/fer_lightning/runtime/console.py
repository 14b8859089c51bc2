"""A quiet console: the libraries' routine chatter goes to the run's log file, problems still reach the terminal.

A training run prints its config summary, the progress bar and the final metrics. Lightning's INFO lines (tips,
"GPU available", checkpoint restored) are dropped from the console by `DropLibraryInfo`, which the `quiet` job
logging (src/fer_lightning/conf/hydra/job_logging/quiet.yaml) puts on the console handler only;
`hydra/job_logging=default` brings them back. Warnings of every level above INFO, and every warning a library raises through `warnings`,
still show, except the few named in `quiet_libraries` that say nothing about the run.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping

# Loggers whose INFO records are routine: Lightning's rank-zero messages and its tips.
LIBRARY_LOGGERS = ("pytorch_lightning", "lightning", "lightning_fabric")

# The groups shown in the config summary, in the order a reader looks for them.
SUMMARY_GROUPS = (
    "experiment",
    "data",
    "model",
    "augment",
    "optimizer",
    "scheduler",
    "trainer",
    "callbacks",
    "logger",
    "hparams_search",
    "debug",
)


class DropLibraryInfo(logging.Filter):
    """A handler filter that drops records below WARNING from the libraries in `LIBRARY_LOGGERS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return not any(record.name == n or record.name.startswith(n + ".") for n in LIBRARY_LOGGERS)


def quiet_libraries() -> None:
    """Silence warnings that signal nothing about the run; call before a Trainer is built.

    - Lightning 2.6's `_pytree` helper tests `isinstance(treespec, LeafSpec)`, which torch 2.14 deprecates with a
      FutureWarning on every fit and test: Lightning's code, not ours, and harmless.
    - MLflow logs INFO lines (database tables created and upgraded) through its own stderr handler; its
      warnings and errors still show. `MLFLOW_LOGGING_LEVEL` set by the user wins.
    """
    warnings.filterwarnings(
        "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning
    )
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


def _format_choice(value) -> str:
    if isinstance(value, list | tuple):
        return str(value[0]) if len(value) == 1 else "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def group_choices() -> dict[str, object]:
    """The option chosen in each config group (`model: sequential`), from Hydra; empty outside a Hydra run."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            return dict(HydraConfig.get().runtime.choices)
    except ValueError:
        pass
    return {}


def config_summary(cfg: Mapping, precision: str, choices: Mapping | None = None) -> str:
    """One line saying what runs: the chosen config groups and the values most often changed."""
    choices = dict(group_choices() if choices is None else choices)
    if cfg.get("logger"):  # a list of loggers (logger=[tensorboard,mlflow]) has no single choice
        choices["logger"] = list(cfg["logger"].keys())
    groups = " ".join(
        f"{g}={_format_choice(choices[g])}" for g in SUMMARY_GROUPS if choices.get(g) not in (None, "null")
    )
    optimizer = cfg.get("optimizer") or {}
    data = cfg.get("data") or {}
    trainer = cfg.get("trainer") or {}
    values = (
        f"lr={optimizer.get('lr')} batch_size={data.get('batch_size')} "
        f"max_epochs={trainer.get('max_epochs')} precision={precision} seed={cfg.get('seed')}"
    )
    return f"config: {groups} | {values}" if groups else f"config: {values}"


# The final metrics line, in this order; keys a run did not log are left out.
FINAL_KEYS = (
    "train/loss",
    "train/acc",
    "val/loss",
    "val/acc",
    "val/acc_best",
    "test/loss",
    "test/acc",
    "test/precision",
    "test/recall",
    "test/f1",
)


def final_metrics_line(metrics: Mapping[str, float], epochs: int) -> str:
    """`final metrics after N epochs: val/acc 0.4300, ...`: what a run ends with on the console."""
    shown = ", ".join(f"{k} {float(metrics[k]):.4f}" for k in FINAL_KEYS if metrics.get(k) is not None)
    return f"final metrics after {epochs} epoch{'s' if epochs != 1 else ''}: {shown or 'none logged'}"
