"""Checks of a composed config that run before any data is read or model built."""

from __future__ import annotations

from omegaconf import DictConfig

from fer_lightning.errors import ConfigError


def _positive(cfg: DictConfig, key: str) -> None:
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{key}={value!r} must be a positive number")


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
    _positive(cfg, "data.image_size")
    _positive(cfg, "trainer.max_epochs")
    dropout = cfg.get("model", {}).get("dropout")
    if dropout is not None and (isinstance(dropout, bool) or not 0.0 <= float(dropout) < 1.0):
        raise ConfigError(f"model.dropout={dropout} must be in [0, 1) (or null for the model's own dropouts)")
    if cfg.get("module") and cfg.module.get("label_smoothing") is not None:
        ls = cfg.module.label_smoothing
        if not 0.0 <= float(ls) < 1.0:
            raise ConfigError(f"module.label_smoothing={ls} must be in [0, 1)")
    for key in ("seed",):
        value = cfg.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{key}={value!r} must be an integer")
