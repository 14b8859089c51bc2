"""One registry of network constructors: `register_model` records them, `create_model` is the one door in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from fer_lightning.config_checks import check_dropout
from fer_lightning.errors import ConfigError


@dataclass(frozen=True)
class ModelInfo:
    """Metadata of a registered network, kept beside its constructor as data."""

    name: str
    builder: Callable[..., nn.Module]
    input_shape: tuple[int, int, int] = (1, 48, 48)  # default (channels, height, width)
    num_classes: int = 7
    fixed_input: bool = False  # replicas accept only their published input shape
    source: str = ""


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str,
    *,
    input_shape: tuple[int, int, int] = (1, 48, 48),
    num_classes: int = 7,
    fixed_input: bool = False,
    source: str = "",
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator recording a constructor `fn(in_channels, num_classes, image_size, dropout, **kw)` under `name`."""

    def decorate(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelInfo(name, fn, tuple(input_shape), num_classes, fixed_input, source)
        return fn

    return decorate


def list_models() -> dict[str, ModelInfo]:
    """Return every registered model by name (the package `fer_lightning.models` has imported every family)."""
    return dict(sorted(_REGISTRY.items()))


def get_model_info(name: str) -> ModelInfo:
    """Look up one model, with an error listing the registered names."""
    models = list_models()
    if name not in models:
        raise ConfigError(f"model.name={name!r} is not a registered model; allowed: {', '.join(models)}")
    return models[name]


def create_model(
    name: str,
    *,
    in_channels: int | None = None,
    num_classes: int | None = None,
    image_size: int | None = None,
    dropout: float | None = None,
    family: str | None = None,
    **kwargs,
) -> nn.Module:
    """Build a registered network for the data's channels, classes and image size.

    With `family` (a registered family such as ``timm``), `name` is a model of that family, passed on as `model_name`.
    """
    if family is not None:
        info = get_model_info(family)
        kwargs["model_name"] = name
        name = family
    else:
        info = get_model_info(name)
    c, h, _ = info.input_shape
    in_channels = c if in_channels is None else int(in_channels)
    num_classes = info.num_classes if num_classes is None else int(num_classes)
    image_size = h if image_size is None else int(image_size)
    if info.fixed_input and (in_channels, image_size) != (c, h):
        raise ConfigError(
            f"model={name} is a replica fixed to input {c}x{h}x{h} (channels x height x width), but the data gives "
            f"{in_channels}x{image_size}x{image_size}. Set data.channels={c} data.image_size={h}, or pick a "
            "configurable model (model=sequential, model=inception, model=vgg_fer, model=resnet18)."
        )
    check_dropout(dropout)
    return info.builder(
        in_channels=in_channels, num_classes=num_classes, image_size=image_size, dropout=dropout, **kwargs
    )
