"""Train a FER model: `python -m fer_lightning.train [group=option ...] [key=value ...]` (or `fer-train`).

`train(cfg)` fits, tests the best checkpoint and writes the run record; `hydra_main` wraps it for the command line.
"""

from __future__ import annotations

import logging
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig, OmegaConf

from fer_lightning.errors import ConfigError, TrainingDivergedError
from fer_lightning.runtime.cli import run_cli
from fer_lightning.runtime.console import config_summary, final_metrics_line
from fer_lightning.runtime.jsonio import write_json, write_text
from fer_lightning.runtime.resolvers import CONF_DIR  # also registers ${fer.*} before Hydra composes
from fer_lightning.runtime.rundir import check_fresh_run_dir
from fer_lightning.runtime.task import run_task
from fer_lightning.runtime.validate import validate_config

if TYPE_CHECKING:
    import pytorch_lightning as pl

log = logging.getLogger("fer_lightning")


def resume_checkpoint(cfg: DictConfig, output_dir: Path) -> str | None:
    """The checkpoint to resume from: `ckpt_path=<file>`, or this run dir's last one for resume=true / ckpt_path=last."""
    ckpt = cfg.get("ckpt_path")
    if cfg.get("resume") or ckpt == "last":
        last = output_dir / "checkpoints" / "last.ckpt"
        if not last.is_file():
            raise ConfigError(
                f"resume: {last} does not exist; pass hydra.run.dir=<the run dir to resume> (it must hold checkpoints/last.ckpt)"
            )
        return str(last)
    return ckpt


def _overrides() -> list[str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    except ValueError:
        return []


def run_overrides(output_dir: Path, resumed: bool) -> tuple[list[str], list[list[str]]]:
    """The run's own command-line overrides, and those of each resume (kept apart in .hydra/resume_<n>/)."""
    original = output_dir / ".hydra" / "overrides.yaml"
    if not resumed or not original.is_file():
        return _overrides(), []
    resumes = sorted(
        original.parent.glob("resume_*/overrides.yaml"), key=lambda p: int(p.parent.name.split("_")[-1])
    )
    return [str(o) for o in OmegaConf.load(original)], [[str(o) for o in OmegaConf.load(p)] for p in resumes]


def fit(trainer: pl.Trainer, module, datamodule, ckpt_path: str | None) -> None:
    """trainer.fit; a diverged loss becomes a user error that says which checkpoint, if any, survives."""
    from fer_lightning.module.classifier import NonFiniteLossError

    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    except NonFiniteLossError as err:
        callback = trainer.checkpoint_callback
        last = Path(callback.last_model_path) if callback and callback.last_model_path else None
        raise TrainingDivergedError(f"{err}; {surviving_checkpoint(last)}.") from None


def surviving_checkpoint(last: Path | None) -> str:
    """Which checkpoint a diverged run leaves, and whether its weights are still finite."""
    import torch

    from fer_lightning.runtime.checkpoint import read_checkpoint

    if last is None or not last.is_file():
        return "no checkpoint was written before it"
    state = read_checkpoint(last, "ckpt_path")["state_dict"]
    if all(torch.isfinite(v).all() for v in state.values() if torch.is_tensor(v) and v.is_floating_point()):
        return f"its last checkpoint, {last}, holds finite weights (resume=true continues from it)"
    return (
        f"its last checkpoint, {last}, was written after the loss diverged (non-finite weights): start again"
    )


def train(cfg: DictConfig) -> tuple[dict, dict]:
    """Fit, then test the best checkpoint; write `metrics.json` into the run dir and return (metrics, objects)."""
    # Imported here: torch and Lightning take seconds to import, and `--help` or a config error need neither.
    import pytorch_lightning as pl

    from fer_lightning.build import build_datamodule, build_module, build_net, build_trainer
    from fer_lightning.callbacks.run_record import RunRecorder, scalar_metrics
    from fer_lightning.loggers import finish_runs
    from fer_lightning.runtime.checkpoint import check_resume_checkpoint, read_checkpoint

    output_dir = Path(cfg.paths.output_dir)
    ckpt_path = resume_checkpoint(cfg, output_dir)
    resumed_own_run = False
    resuming = ckpt_path is not None
    if (
        resuming
        and (output_dir / "config.yaml").is_file()
        and (cfg.get("resume") or cfg.get("ckpt_path") == "last")
    ):
        # A resumed run continues with the config it started with; the command line need not repeat it.
        resumed_own_run = True
        saved = OmegaConf.load(output_dir / "config.yaml")
        saved.paths.output_dir = str(output_dir)
        cfg = saved
    validate_config(cfg)
    check_fresh_run_dir(output_dir, resuming=resuming)
    if not resuming:
        write_text(output_dir / "config.yaml", OmegaConf.to_yaml(cfg))
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    net = build_net(cfg)  # cheap, and checks the model against the data's shape before data is read
    datamodule = build_datamodule(cfg)
    datamodule.setup()
    module = build_module(cfg, datamodule, net)
    resume_step = None
    if ckpt_path:
        ckpt = read_checkpoint(ckpt_path, "ckpt_path")
        check_resume_checkpoint(ckpt, module, ckpt_path, str(cfg.model.get("name")))
        resume_step = ckpt.get("global_step")
        del ckpt
    # On resume, TensorBoard drops the events the killed run wrote after its checkpoint, so no step repeats.
    trainer = build_trainer(cfg, logger_kwargs={"purge_step": resume_step + 1} if resume_step else None)
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    log.info("%s", config_summary(cfg, str(trainer.precision)))
    log.info(
        "model %s: %s trainable parameters; data: %s", cfg.model.get("name"), f"{params:,}", datamodule.source
    )

    objects = {"cfg": cfg, "datamodule": datamodule, "module": module, "trainer": trainer}
    metrics: dict[str, float] = {}
    recorder = next((c for c in trainer.callbacks if isinstance(c, RunRecorder)), None)
    history: list[dict] = []
    failed = True
    try:
        if cfg.get("train", True):
            fit(trainer, module, datamodule, ckpt_path)
            metrics.update(scalar_metrics(trainer.callback_metrics))
            # copied now: testing the best checkpoint restores the callbacks' state as of that checkpoint
            history = list(recorder.history) if recorder else []

        test_note = None
        if cfg.get("test", True):
            if datamodule.has_test:
                best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
                # verbose=False: the final metrics line below replaces Lightning's table
                trainer.test(
                    module, datamodule=datamodule, ckpt_path=best or None, weights_only=False, verbose=False
                )
                metrics.update(
                    {
                        k: v
                        for k, v in scalar_metrics(trainer.callback_metrics).items()
                        if k.startswith("test/")
                    }
                )
            else:
                test_note = f"{datamodule.source} has no labelled test split; the test stage was skipped"
                log.warning(test_note)
        failed = False
    finally:
        finish_runs(trainer.loggers, failed=failed)

    seconds = [h["seconds"] for h in history if h.get("seconds")]
    best_cb = trainer.checkpoint_callback
    overrides, resumes = run_overrides(output_dir, resumed=resumed_own_run)
    summary = {
        "status": "completed",
        "run_dir": str(output_dir),
        "overrides": overrides,
        "resumes": resumes,
        "model": cfg.model.get("name"),
        "data": cfg.data.get("dataset", "synthetic"),
        "params": params,
        "epochs": len(history),
        "seconds_per_epoch": statistics.mean(seconds) if seconds else None,
        "best_ckpt": best_cb.best_model_path if best_cb else None,
        "best_val_acc": float(best_cb.best_model_score)
        if best_cb and best_cb.best_model_score is not None
        else None,
        "test_note": test_note,
        "metrics": metrics,
    }
    if trainer.is_global_zero:  # under DDP every rank runs train(); one writes the record
        write_json(output_dir / "metrics.json", summary)
        log.info("%s", final_metrics_line(metrics, len(history)))
    return metrics, objects


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    """Hydra entry point: returns the metric a sweeper optimises (None for a failed trial)."""
    return run_task(train, cfg)


def main() -> None:
    """Command-line entry point (`fer-train`): a user error is one paragraph and exit code 2."""
    run_cli(hydra_main)


if __name__ == "__main__":
    main()
