"""The training task behind `python -m fer_lightning.train`: fit, test the best checkpoint, write the run record."""

from __future__ import annotations

import logging
import statistics
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from fer_lightning.build import build_datamodule, build_module, build_net, build_trainer
from fer_lightning.callbacks.run_record import RunRecorder, scalar_metrics
from fer_lightning.errors import ConfigError
from fer_lightning.runtime.jsonio import write_json
from fer_lightning.runtime.rundir import check_fresh_run_dir
from fer_lightning.runtime.validate import validate_config

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
    if ckpt and not Path(ckpt).is_file():
        raise ConfigError(f"ckpt_path={ckpt}: no such checkpoint file")
    return ckpt


def _overrides() -> list[str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    except ValueError:
        return []


def train(cfg: DictConfig) -> tuple[dict, dict]:
    """Fit, then test the best checkpoint; write `metrics.json` into the run dir and return (metrics, objects)."""
    output_dir = Path(cfg.paths.output_dir)
    ckpt_path = resume_checkpoint(cfg, output_dir)
    resuming = ckpt_path is not None
    if (
        resuming
        and (output_dir / "config.yaml").is_file()
        and (cfg.get("resume") or cfg.get("ckpt_path") == "last")
    ):
        # A resumed run continues with the config it started with; the command line need not repeat it.
        saved = OmegaConf.load(output_dir / "config.yaml")
        saved.paths.output_dir = str(output_dir)
        cfg = saved
    validate_config(cfg)
    check_fresh_run_dir(output_dir, resuming=resuming)
    if not resuming:
        OmegaConf.save(cfg, output_dir / "config.yaml")
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    net = build_net(cfg)  # cheap, and checks the model against the data's shape before data is read
    datamodule = build_datamodule(cfg)
    datamodule.setup()
    module = build_module(cfg, datamodule, net)
    resume_step = (
        torch.load(ckpt_path, map_location="cpu", weights_only=False)["global_step"] if ckpt_path else None
    )
    # On resume, TensorBoard drops the events the killed run wrote after its checkpoint, so no step repeats.
    trainer = build_trainer(cfg, logger_kwargs={"purge_step": resume_step + 1} if resume_step else None)
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    log.info(
        "model %s: %s trainable parameters; data: %s", cfg.model.get("name"), f"{params:,}", datamodule.source
    )

    objects = {"cfg": cfg, "datamodule": datamodule, "module": module, "trainer": trainer}
    metrics: dict[str, float] = {}
    recorder = next((c for c in trainer.callbacks if isinstance(c, RunRecorder)), None)
    history: list[dict] = []
    if cfg.get("train", True):
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        metrics.update(scalar_metrics(trainer.callback_metrics))
        # copied now: testing the best checkpoint restores the callbacks' state as of that checkpoint
        history = list(recorder.history) if recorder else []

    test_note = None
    if cfg.get("test", True):
        if datamodule.has_test:
            best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            trainer.test(module, datamodule=datamodule, ckpt_path=best or None, weights_only=False)
            metrics.update(
                {k: v for k, v in scalar_metrics(trainer.callback_metrics).items() if k.startswith("test/")}
            )
        else:
            test_note = f"{datamodule.source} has no labelled test split; the test stage was skipped"
            log.warning(test_note)

    seconds = [h["seconds"] for h in history if h.get("seconds")]
    best_cb = trainer.checkpoint_callback
    summary = {
        "status": "completed",
        "run_dir": str(output_dir),
        "overrides": _overrides(),
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
    return metrics, objects
