"""`timm`: any model of the timm library (`model=timm model.name=<timm model>`), built for the data's input.

timm adapts the input convolution to the data's channels itself (``in_chans``: grey input sums the RGB filters of
pretrained weights), replaces the classifier for the data's classes and sets the dropout before it (``drop_rate``).
Pretrained weights come from the Hugging Face hub through timm, or from a local file (`model.pretrained_file`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from torch import nn

from fer_lightning.errors import ConfigError, PretrainedWeightsError
from fer_lightning.models.registry import register_model

log = logging.getLogger(__name__)

DEFAULT_TIMM_MODEL = "resnet18"
HUB_PROBE_TIMEOUT_S = 3.0


@contextlib.contextmanager
def _cache_only_when_hub_unreachable() -> Iterator[None]:
    """Offline, read the Hugging Face cache only: the hub client would otherwise retry for about a minute."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=HUB_PROBE_TIMEOUT_S).close()
        reachable = True
    except OSError:
        reachable = False
    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = saved or not reachable  # read at call time by the download functions
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


def _check_name(name: str) -> None:
    """A ConfigError with close timm names when `name` is not a timm model."""
    import timm

    if timm.is_model(name):
        return
    import difflib

    close = difflib.get_close_matches(name.split(".")[0], timm.list_models(), n=8, cutoff=0.6)
    hint = f"close names: {', '.join(close)}" if close else "timm.list_models() lists them"
    raise ConfigError(f"model=timm model.name={name!r} is not a timm model; {hint}")


def _create(name: str, image_size: int, **kwargs) -> nn.Module:
    """timm.create_model, giving the input size to the models that are built for one (ViTs and other token models)."""
    import timm

    try:
        return timm.create_model(name, img_size=image_size, **kwargs)
    except TypeError as err:
        if "img_size" not in str(err):
            raise
    # convolutional networks take any input size and do not accept img_size
    return timm.create_model(name, **kwargs)


def _check_file_covers_backbone(net: nn.Module, path: Path, model_name: str) -> None:
    """timm loads a file non-strictly when it replaces the head; say which backbone tensors the file lacked."""
    from timm.models import load_state_dict

    keys = set(load_state_dict(str(path)))
    head = {f"{n}." for n, m in net.named_modules() if m is net.get_classifier()}
    backbone = [k for k in net.state_dict() if not any(k.startswith(h) for h in head)]
    missing = [k for k in backbone if k not in keys]
    if len(missing) == len(backbone):
        raise ConfigError(
            f"model.pretrained_file={path} does not hold weights of timm model {model_name!r}: none of its "
            f"{len(backbone)} backbone tensors (e.g. {backbone[0]}) is in the file"
        )
    if missing:
        log.warning(
            "model.pretrained_file=%s lacks %d of %d backbone tensors of %s (%s): they start from scratch",
            path,
            len(missing),
            len(backbone),
            model_name,
            ", ".join(missing[:6]),
        )


@register_model(
    "timm",
    input_shape=(3, 112, 112),
    source=f"any timm model (model.name=; {DEFAULT_TIMM_MODEL} when listed), https://github.com/huggingface/pytorch-image-models",
)
def timm_model(
    *,
    in_channels: int,
    num_classes: int,
    image_size: int,
    dropout: float | None,
    model_name: str = DEFAULT_TIMM_MODEL,
    pretrained: bool = False,
    pretrained_file: str | None = None,
) -> nn.Module:
    """The timm model `model_name` for `in_channels` x `image_size`² input and `num_classes` outputs.

    `pretrained` loads timm's default weights for the model (downloaded through the Hugging Face hub, then cached);
    `pretrained_file` loads a local state dict or checkpoint instead (.pth, .bin or .safetensors). Either way timm
    adapts the first convolution to `in_channels` and leaves the classifier fresh when the class count differs.
    """
    _check_name(model_name)
    kwargs: dict = {"in_chans": int(in_channels), "num_classes": int(num_classes)}
    if dropout is not None:
        kwargs["drop_rate"] = float(dropout)
    if pretrained_file:
        path = Path(str(pretrained_file)).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"model.pretrained_file={pretrained_file}: no such file (a state dict of {model_name})"
            )
        # timm reads the file in place of its download, with its own key filters and in_chans / head adaptation
        kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": str(path)})
        try:
            net = _create(model_name, image_size, **kwargs)
        except RuntimeError as err:  # load_state_dict: missing / unexpected keys, shape mismatches
            raise ConfigError(
                f"model.pretrained_file={path} does not hold weights of timm model {model_name!r}: "
                f"{str(err).splitlines()[0]}"
            ) from err
        _check_file_covers_backbone(net, path, model_name)
        return net
    if pretrained:
        try:
            with _cache_only_when_hub_unreachable():
                return _create(model_name, image_size, pretrained=True, **kwargs)
        except OSError as err:  # huggingface_hub's offline / not-found errors and URLError are OSErrors
            raise PretrainedWeightsError(
                f"model=timm model.name={model_name} with model.pretrained=true could not download its weights "
                f"through timm / the Hugging Face hub ({type(err).__name__}: {str(err).splitlines()[0]}). Without "
                f"network access, save the weights of {model_name} on a machine that has it (e.g. "
                f"torch.save(timm.create_model('{model_name}', pretrained=True).state_dict(), 'w.pth')) and pass "
                "model.pretrained_file=<path>, or set model.pretrained=false to train from scratch."
            ) from err
    return _create(model_name, image_size, **kwargs)
