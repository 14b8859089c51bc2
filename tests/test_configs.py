"""Every option of every config group composes with conf/train.yaml and instantiates."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from conftest import CONF
from hydra.utils import instantiate

from fer_lightning.build import build_datamodule, build_module, build_net, build_trainer
from fer_lightning.data.datamodule import InMemoryDataModule


def options(group: str) -> list[str]:
    """Option names of a config group (nested folders give `paper/<name>`)."""
    root = CONF / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def test_groups_mirror_the_package():
    for group in (
        "data",
        "augment",
        "model",
        "module",
        "optimizer",
        "scheduler",
        "trainer",
        "callbacks",
        "logger",
    ):
        assert options(group), group
    assert set(options("optimizer")) == {"adam", "adamw", "sgd", "rmsprop"}
    assert set(options("scheduler")) == {
        "none",
        "plateau",
        "step",
        "exponential",
        "cosine",
        "warmup_cosine",
        "onecycle",
    }
    assert set(options("trainer")) >= {"default", "cpu", "gpu", "ddp"}
    assert set(options("logger")) >= {"tensorboard", "csv", "mlflow", "wandb", "many"}


@pytest.mark.parametrize("option", options("data"))
def test_data_options_instantiate(train_cfg, option, tmp_path):
    cfg = train_cfg(f"data={option}", fast=False)
    dm = build_datamodule(cfg)
    assert isinstance(dm, InMemoryDataModule)
    assert (dm.channels, dm.image_size) == (cfg.data.channels, cfg.data.image_size)


@pytest.mark.parametrize("option", options("augment"))
def test_augment_options_instantiate(train_cfg, option):
    cfg = train_cfg(f"augment={option}")
    augment = instantiate(cfg.augment)
    x = torch.rand(4, 1, 48, 48)
    assert augment(x, generator=torch.Generator().manual_seed(0)).shape == x.shape


@pytest.mark.parametrize("optimizer", options("optimizer"))
@pytest.mark.parametrize("scheduler", options("scheduler"))
def test_optimizer_and_scheduler_options_build(train_cfg, optimizer, scheduler):
    cfg = train_cfg(f"optimizer={optimizer}", f"scheduler={scheduler}")
    dm = build_datamodule(cfg)
    dm.setup()
    module = build_module(cfg, dm, build_net(cfg))
    if scheduler in ("onecycle", "warmup_cosine"):
        # planned per-step schedules read the steps per epoch from the trainer: configured inside a real fit step
        from fer_lightning.bench.train_loop import fit_only_trainer

        trainer = fit_only_trainer(accelerator="cpu", max_epochs=1, limit_train_batches=1)
        trainer.fit(module, datamodule=dm)
        configured = {
            "optimizer": trainer.optimizers[0],
            "lr_scheduler": {"scheduler": trainer.lr_scheduler_configs[0].scheduler},
        }
        assert trainer.lr_scheduler_configs[0].interval == "step"
        trainer.optimizers[0].param_groups[0]["lr"] = trainer.lr_scheduler_configs[0].scheduler.base_lrs[0]
    else:
        configured = module.configure_optimizers()
    opt = configured["optimizer"] if isinstance(configured, dict) else configured
    assert (
        type(opt).__name__.lower()
        == {"adam": "adam", "adamw": "adamw", "sgd": "sgd", "rmsprop": "rmsprop"}[optimizer]
    )
    assert opt.param_groups[0]["lr"] == cfg.optimizer.lr
    if scheduler == "none":
        assert not isinstance(configured, dict)
    else:
        assert configured["lr_scheduler"]["scheduler"] is not None


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_options(train_cfg, option):
    cfg = train_cfg(f"trainer={option}", fast=False)
    if option == "gpu":
        assert cfg.trainer.accelerator == "gpu"
        if not torch.cuda.is_available():
            return  # composes; instantiating needs a GPU
    cfg.trainer.accelerator = "cpu" if option != "gpu" else cfg.trainer.accelerator
    trainer = build_trainer(cfg)
    assert isinstance(trainer, pl.Trainer)
    assert trainer.precision in ("bf16-mixed", "32-true", "16-mixed")


# MLflow and W&B (and `many`, which holds MLflow) are built and read back by test_trackers.py: creating an MLflow
# store takes seconds, too long to repeat for every callbacks option here.
TRACKERS = {"mlflow", "wandb", "many"}


@pytest.mark.parametrize("callbacks", options("callbacks"))
@pytest.mark.parametrize("logger", [o for o in options("logger") if o not in TRACKERS])
def test_callbacks_and_logger_options(train_cfg, callbacks, logger):
    cfg = train_cfg(f"callbacks={callbacks}", f"logger={logger}")
    trainer = build_trainer(cfg)
    names = {type(c).__name__ for c in trainer.callbacks}
    assert {"BestAndLastCheckpoint", "RunRecorder", "EpochSeed"} <= names
    assert type(trainer.logger).__name__.lower().startswith(logger[:3])


@pytest.mark.parametrize("option", options("debug"))
def test_debug_options_compose(train_cfg, option):
    cfg = train_cfg(f"debug={option}")
    assert cfg.trainer.max_epochs >= 1


def test_debug_fast_dev_run_trains(train_cfg):
    from fer_lightning.train import train

    metrics, _ = train(train_cfg("debug=fdr"))
    assert "train/acc" in metrics


def test_precision_auto_resolves_for_this_machine():
    from fer_lightning.runtime.precision import cpu_supports_bf16, resolve_precision

    assert resolve_precision("auto", "cpu") == ("bf16-mixed" if cpu_supports_bf16() else "32-true")
    assert resolve_precision("16-mixed", "gpu") == "16-mixed"
    from fer_lightning.errors import ConfigError

    with pytest.raises(ConfigError, match="trainer.precision"):
        resolve_precision("fp8", "cpu")
