"""Building the run's objects (data, network, LightningModule, trainer) from a composed config."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class
from hydra.utils import instantiate as hydra_instantiate
from omegaconf import DictConfig, OmegaConf

from fer_lightning.augment.ops import center_crop
from fer_lightning.data.datamodule import InMemoryDataModule
from fer_lightning.errors import ConfigError, FERError
from fer_lightning.module.classifier import FERClassifier
from fer_lightning.runtime.checkpoint import describe_mismatch, read_checkpoint, tensor_match
from fer_lightning.runtime.console import quiet_libraries
from fer_lightning.runtime.device import accelerator_device
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
    crop_in_eval(net, cfg)
    if cfg.get("init_from"):
        load_pretrained_weights(
            net,
            cfg.init_from,
            num_classes=int(cfg.data.num_classes),
            strict=cfg.get("init_from_strict", True) is not False,
        )
    return net


def build_module(cfg: DictConfig, datamodule: InMemoryDataModule, net: torch.nn.Module) -> FERClassifier:
    """Wrap the network in the classifier with the configured optimizer and scheduler."""
    check_arguments(cfg.get("optimizer"), "optimizer")
    check_arguments((cfg.get("scheduler") or {}).get("scheduler"), "scheduler.scheduler")
    check_crop_fits(cfg, datamodule, net)
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


def training_crop_size(cfg: DictConfig) -> int | None:
    """The size of the run's training crops: `augment.crop_size`, else a RandomCrop listed in `augment.ops`."""
    augment = cfg.get("augment") or {}
    if augment.get("crop_size") is not None:
        return int(augment.crop_size)
    sizes = [
        op.get("size")
        for op in augment.get("ops") or []
        if str(op.get("_target_", "")).endswith(".RandomCrop")
    ]
    return int(sizes[-1]) if sizes else None


def crop_in_eval(net: torch.nn.Module, cfg: DictConfig) -> None:
    """Make `net` see the centre crop of larger images in eval mode when the run trains on crops.

    Validation, test, `eval`, `predict` and exports then score the view the network was trained on (the
    whole 48x48 face scored 7 points lower on FER2013 for a 44x44-trained `fast_resnet`). A forward
    pre-hook, so the state_dict keys stay those of the plain network, and tracing exports bake it in.
    """
    size = training_crop_size(cfg)
    if size is None:
        return

    def crop(module: torch.nn.Module, args: tuple) -> tuple | None:
        return None if module.training else (center_crop(args[0], size), *args[1:])

    net.register_forward_pre_hook(crop)


def check_crop_fits(cfg: DictConfig, datamodule: InMemoryDataModule, net: torch.nn.Module) -> None:
    """A ConfigError now, not at the first training step, when a training crop cannot be made or fed to `net`."""
    size = training_crop_size(cfg)
    if size is None:
        return
    full = datamodule.image_size
    if size > full:
        raise ConfigError(
            f"augment.crop_size={size} is larger than data.image_size={full}: a training crop must fit the image"
        )
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(torch.zeros(1, datamodule.channels, size, size))
    except RuntimeError as err:
        model_name = (cfg.get("model") or {}).get("name", "?")
        raise ConfigError(
            f"augment.crop_size={size}: model={model_name} cannot take {size}x{size} images, the size it would "
            f"see in training and, cropped from {full}x{full}, in evaluation ({str(err).splitlines()[0]}); train "
            "crops need a network that ends in global pooling (fast_resnet, inception, resnet18, timm), or "
            "crop_size=null"
        ) from None
    finally:
        net.train(was_training)


def _instantiate_all(group: DictConfig | None) -> list:
    if not group:
        return []
    return [instantiate(c) for c in group.values() if isinstance(c, DictConfig) and "_target_" in c]


def build_trainer(cfg: DictConfig, *, logger_kwargs: dict | None = None) -> pl.Trainer:
    """Instantiate the Lightning Trainer with callbacks, loggers and the resolved precision."""
    quiet_libraries()
    callbacks = _instantiate_all(cfg.get("callbacks"))
    loggers = []
    for c in (cfg.get("logger") or {}).values():
        if isinstance(c, DictConfig) and "_target_" in c:
            extra = logger_kwargs if logger_kwargs and c._target_.endswith("TensorBoardLogger") else {}
            loggers.append(instantiate(c, **extra))
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    accelerator_device(accelerator)  # a GPU asked for where there is none stops here, naming the key
    precision = resolve_precision(cfg.trainer.get("precision", "auto"), accelerator)
    try:
        return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, precision=precision)
    except (
        InstantiationException
    ) as err:  # Lightning refused a trainer.* value: say which, without Hydra's wrapper
        cause = err.__cause__ or err
        raise ConfigError(f"trainer: Lightning refused these settings: {cause}") from None


def check_arguments(node: DictConfig | None, key: str) -> None:
    """Every value of a `_partial_` optimizer or scheduler config must be an argument of its class."""
    if not node or "_target_" not in node:
        return
    target = get_class(node._target_)
    accepted = [
        p for p in inspect.signature(target.__init__).parameters if p not in ("self", "params", "optimizer")
    ]
    unknown = [k for k in node if not str(k).startswith("_") and k not in accepted]
    if unknown:
        raise ConfigError(
            f"{key}.{unknown[0]}: {node._target_} takes no such argument; allowed: {', '.join(accepted)}"
        )


def load_pretrained_weights(
    net: torch.nn.Module, ckpt_path: str, *, num_classes: int | None = None, strict: bool = True
) -> None:
    """Copy matching weights from a checkpoint; the classifier head stays fresh when the class count differs.

    With `strict` (init_from_strict=true, the default) anything else that does not match, a tensor absent or
    of another shape, means another network: an error that says how many tensors matched.
    """
    path = Path(ckpt_path).expanduser()
    state = read_checkpoint(path, "init_from", lightning=False)
    state = state.get("state_dict", state)
    source = {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.") or "." in k}
    target = net.state_dict()
    same, reshaped, absent = tensor_match(source, target)
    loaded = {k: source[k] for k in same}
    skipped = sorted(k for k in target if k not in loaded)
    # a new class count changes the head's output rows only: that is the one mismatch a warm start expects
    head = [k for k in reshaped if num_classes is not None and target[k].shape[:1] == (num_classes,)]
    if not loaded or (strict and (absent or len(head) < len(reshaped))):
        raise ConfigError(
            f"init_from={ckpt_path} does not fit model={type(net).__name__}: "
            f"{describe_mismatch(same, reshaped, absent)}; it is a checkpoint of another network. "
            + (
                "Set init_from_strict=false to load the matching tensors and train the rest from scratch."
                if loaded
                else "Nothing can be loaded from it."
            )
        )
    net.load_state_dict(loaded, strict=False)
    (log.warning if absent or len(head) < len(reshaped) else log.info)(
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
    ckpt = read_checkpoint(ckpt_path, "ckpt_path", map_location=map_location)
    config = (ckpt.get("hyper_parameters") or {}).get("config")
    if config is None:
        raise ConfigError(
            f"ckpt_path={ckpt_path} was not written by fer_lightning.train (it holds no run config)"
        )
    cfg = OmegaConf.create(config)
    net = instantiate(_without_pretrained_weights(cfg.model), _convert_="partial")
    crop_in_eval(net, cfg)
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
