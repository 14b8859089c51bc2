"""Choosing the fastest numerically safe precision for the machine a run lands on."""

from __future__ import annotations

import torch

from fer_lightning.errors import ConfigError
from fer_lightning.runtime.device import accelerator_device

LIGHTNING_PRECISIONS = (
    "32-true",
    "32",
    "16-mixed",
    "bf16-mixed",
    "bf16-true",
    "16-true",
    "64-true",
    "transformer-engine",
)


def cpu_supports_bf16() -> bool:
    """Whether the CPU has native bf16 dot products (AVX512-BF16 / AMX), where bf16 autocast is a real speed-up."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str | int, accelerator: str) -> str:
    """Map `auto` to bf16-mixed (bf16 CPUs and GPUs), 16-mixed (older GPUs) or 32-true; pass others through."""
    precision = str(precision)
    if precision != "auto":
        if precision not in LIGHTNING_PRECISIONS:
            raise ConfigError(
                f"trainer.precision={precision!r}; allowed: auto, {', '.join(LIGHTNING_PRECISIONS)}"
            )
        return precision
    if accelerator_device(accelerator).type == "cuda":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_supports_bf16() else "32-true"
