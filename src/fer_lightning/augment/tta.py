"""Test-time augmentation: deterministic views of a batch and the model's logits averaged over them."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from fer_lightning.config_checks import check_choice
from fer_lightning.errors import ConfigError

TTA_MODES = ("none", "flip", "tencrop")
AVERAGES = ("logits", "probs")


def check_mode(mode: str) -> str:
    """Return `mode` when it is one of TTA_MODES, else a ConfigError naming `tta` and the modes."""
    return check_choice(mode, TTA_MODES, "tta")


def default_crop_size(size: int) -> int:
    """About 90% of ``size``, rounded to an even number so the centre crop sits symmetrically (48 -> 44)."""
    return max(1, min(size, 2 * round(0.45 * size)))


def _crop_sizes(h: int, w: int, crop_size: int | tuple[int, int] | None) -> tuple[int, int]:
    if crop_size is None:
        return default_crop_size(h), default_crop_size(w)
    ch, cw = (crop_size, crop_size) if isinstance(crop_size, int) else (int(crop_size[0]), int(crop_size[1]))
    if not (1 <= ch <= h and 1 <= cw <= w):
        raise ConfigError(f"tta crop_size must lie in [1, image size {h}x{w}], got {crop_size}")
    return ch, cw


def tta_views(x: Tensor, mode: str = "none", crop_size: int | tuple[int, int] | None = None) -> Tensor:
    """Stack the TTA views of batch ``x`` [B, C, H, W] into [V, B, C, H, W].

    Modes: "none" (V=1, the batch itself), "flip" (V=2: original, horizontal flip), "tencrop"
    (V=10: top-left, top-right, bottom-left, bottom-right and centre crops of ``crop_size`` resized
    back to H x W bilinearly, then the horizontal flip of each of those five in the same order).
    """
    if check_mode(mode) == "none":
        return x.unsqueeze(0)
    if mode == "flip":
        return torch.stack([x, x.flip(-1)])
    b, c, h, w = x.shape
    ch, cw = _crop_sizes(h, w, crop_size)
    top, left = (h - ch) // 2, (w - cw) // 2
    crops = torch.stack(
        [
            x[..., :ch, :cw],
            x[..., :ch, w - cw :],
            x[..., h - ch :, :cw],
            x[..., h - ch :, w - cw :],
            x[..., top : top + ch, left : left + cw],
        ]
    ).reshape(5 * b, c, ch, cw)
    if (ch, cw) != (h, w):
        crops = F.interpolate(crops, size=(h, w), mode="bilinear", align_corners=False)
    crops = crops.view(5, b, c, h, w)
    return torch.cat([crops, crops.flip(-1)])


def tta_logits(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    mode: str = "none",
    crop_size: int | tuple[int, int] | None = None,
    average: str = "logits",
) -> Tensor:
    """Run ``model`` on every TTA view of ``x`` and return [B, K] logits averaged over the views.

    ``average="logits"`` (default) returns the mean of the views' logits. ``average="probs"`` averages
    the softmax probabilities instead and returns their log, so the result is still a valid logit
    vector (softmax of it gives the mean probabilities). Views run one at a time to bound memory;
    the caller sets eval mode and ``torch.no_grad``.
    """
    if average not in AVERAGES:
        raise ConfigError(f"tta average must be one of {AVERAGES}, got {average!r}")
    if mode == "none":
        return model(x)
    views = tta_views(x, mode, crop_size)
    total: Tensor | None = None
    for view in views:
        out = model(view)
        if average == "probs":
            out = out.softmax(dim=-1)
        total = out if total is None else total + out
    assert total is not None
    mean = total / views.shape[0]
    return mean.log() if average == "probs" else mean
