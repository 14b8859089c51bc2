"""Building the run's objects (data, network, LightningModule, trainer) from a composed config."""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class
from hydra.utils import instantiate as hydra_instantiate
from omegaconf import DictConfig, OmegaConf

from fer_lightning.data.datamodule import InMemoryDataModule
from fer_lightning.errors import ConfigError, FERError
from fer_lightning.module.classifier import FERClassifier
from fer_lightning.runtime.precision import resolve_precision

log = logging.getLogger(__name__)


def instantiate(config, *args, **kwargs):
    """hydra's instantiate, re-raising our own user errors as they are rather than wrapped in Hydra's."""
    try:
        return hydra_instantiate(config, *args, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while cause is not None and not isinstance(cause, FERError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise


def build_datamodule(cfg: DictConfig) -> InMemoryDataModule:
    """Instantiate the data config with its augmentation pipeline."""
    augment = instantiate(cfg.augment) if cfg.get("augment") else None
    return instantiate(cfg.data, augment=augment, _convert_="partial")


def build_net(cfg: DictConfig) -> torch.nn.Module:
    """Instantiate the network, optionally warm-started from another run's checkpoint (`init_from`)."""
    net = instantiate(cfg.model, _convert_="partial")
    if cfg.get("init_from"):
        load_pretrained_weights(net, cfg.init_from)
    return net


def build_module(cfg: DictConfig, datamodule: InMemoryDataModule, net: torch.nn.Module) -> FERClassifier:
    """Wrap the network in the classifier with the configured optimizer and scheduler."""
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    options = OmegaConf.to_container(cfg.module, resolve=True)
    module_class = get_class(options.pop("_target_"))
    run_config = OmegaConf.to_container(cfg, resolve=True)
    run_config.pop("hydra", None)
    # Called directly rather than through instantiate(): the run config is data to store, and its
    # nested `_target_` entries must not be instantiated.
    module = module_class(
        net=net,
        optimizer=instantiate(cfg.optimizer),
        scheduler=OmegaConf.to_container(scheduler) if isinstance(scheduler, DictConfig) else scheduler,
        num_classes=datamodule.num_classes,
        class_names=list(datamodule.class_names),
        class_weights=datamodule.class_weights,
        run_config=run_config,
        **options,
    )
    if cfg.get("channels_last"):
        module = module.to(memory_format=torch.channels_last)
    if cfg.get("compile"):
        # In place (nn.Module.compile): the state_dict keys stay those of the plain network, so checkpoints
        # of compiled and eager runs are interchangeable.
        module.net.compile()
    return module


def _instantiate_all(group: DictConfig | None) -> list:
    if not group:
        return []
    return [instantiate(c) for c in group.values() if isinstance(c, DictConfig) and "_target_" in c]


def build_trainer(cfg: DictConfig, *, logger_kwargs: dict | None = None) -> pl.Trainer:
    """Instantiate the Lightning Trainer with callbacks, loggers and the resolved precision."""
    callbacks = _instantiate_all(cfg.get("callbacks"))
    loggers = []
    for c in (cfg.get("logger") or {}).values():
        if isinstance(c, DictConfig) and "_target_" in c:
            extra = logger_kwargs if logger_kwargs and c._target_.endswith("TensorBoardLogger") else {}
            loggers.append(instantiate(c, **extra))
    precision = resolve_precision(
        cfg.trainer.get("precision", "auto"), str(cfg.trainer.get("accelerator", "auto"))
    )
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, precision=precision)


def load_pretrained_weights(net: torch.nn.Module, ckpt_path: str) -> None:
    """Copy matching weights from a checkpoint; layers whose shapes differ (a new class count) stay fresh."""
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise ConfigError(f"init_from={ckpt_path}: no such checkpoint file")
    state = torch.load(path, map_location="cpu", weights_only=False)
    state = state.get("state_dict", state)
    source = {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.") or "." in k}
    target = net.state_dict()
    loaded = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    skipped = sorted(k for k in target if k not in loaded)
    if not loaded:
        raise ConfigError(
            f"init_from={ckpt_path}: no weights match model={type(net).__name__}; is it the same network?"
        )
    net.load_state_dict(loaded, strict=False)
    log.info(
        "init_from %s: loaded %d tensors, re-initialised %d (%s)",
        path,
        len(loaded),
        len(skipped),
        ", ".join(skipped[:6]),
    )


def _without_pretrained_weights(model_cfg: DictConfig) -> DictConfig:
    """The model config with pretrained weights off: a checkpoint holds every weight, so rebuilding its network
    needs no download (model.pretrained) and no weights file (model.pretrained_file)."""
    model_cfg = model_cfg.copy()
    if model_cfg.get("pretrained"):
        model_cfg.pretrained = False
    if model_cfg.get("pretrained_file"):
        model_cfg.pretrained_file = None
    return model_cfg


def load_classifier(ckpt_path: str | Path, map_location: str = "cpu") -> tuple[FERClassifier, DictConfig]:
    """Rebuild a trained classifier and its run config from a checkpoint written by `train`."""
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise ConfigError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    ckpt = torch.load(path, map_location=map_location, weights_only=False)
    config = (ckpt.get("hyper_parameters") or {}).get("config")
    if config is None:
        raise ConfigError(
            f"ckpt_path={ckpt_path} was not written by fer_lightning.train (it holds no run config)"
        )
    cfg = OmegaConf.create(config)
    net = instantiate(_without_pretrained_weights(cfg.model), _convert_="partial")
    module = FERClassifier(
        net,
        optimizer=None,
        num_classes=int(ckpt["hyper_parameters"]["num_classes"]),
        class_names=ckpt["hyper_parameters"]["class_names"],
        run_config=config,
    )
    state = {k: v for k, v in ckpt["state_dict"].items() if k != "class_weights"}
    module.load_state_dict(state, strict=True)
    module.eval()
    return module, cfg
