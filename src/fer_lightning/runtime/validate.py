"""Checks of a composed config that run before any data is read or model built."""

from __future__ import annotations

from omegaconf import DictConfig

from fer_lightning.config_checks import check_dropout, check_fraction, check_image_size, check_positive
from fer_lightning.errors import ConfigError


def _positive(cfg: DictConfig, key: str) -> None:
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, key)
    if value is not None:  # a key the config does not have is left to the code that would use it
        check_positive(key, value)


def missing_keys(node, prefix: str = "") -> list[str]:
    """Keys left at `???`, found without resolving any interpolation (which may need a running Hydra job)."""
    if isinstance(node, dict):
        return [k for key, value in node.items() for k in missing_keys(value, f"{prefix}{key}.")]
    if isinstance(node, list):
        return [k for i, value in enumerate(node) for k in missing_keys(value, f"{prefix}{i}.")]
    return [prefix.rstrip(".")] if node == "???" else []


def validate_config(cfg: DictConfig) -> None:
    """Reject values that would fail late or silently: each error names the key and what is allowed."""
    from omegaconf import OmegaConf

    tree = OmegaConf.to_container(cfg, resolve=False)
    missing = sorted(k for k in missing_keys(tree) if not k.startswith("hydra."))
    if missing:
        raise ConfigError(f"required config value(s) not set: {', '.join(missing)} (give them as key=value)")
    _positive(cfg, "optimizer.lr")
    _positive(cfg, "data.batch_size")
    image_size = OmegaConf.select(cfg, "data.image_size")
    if image_size is not None:
        check_image_size(image_size)
    _positive(cfg, "trainer.max_epochs")
    check_dropout(cfg.get("model", {}).get("dropout"))
    if cfg.get("module") and cfg.module.get("label_smoothing") is not None:
        check_fraction("module.label_smoothing", cfg.module.label_smoothing)
    for key in ("seed",):
        value = cfg.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{key}={value!r} must be an integer")
