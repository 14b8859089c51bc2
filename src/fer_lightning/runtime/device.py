"""The one device resolver: `device=` of eval, predict, visualize and the demo, and `trainer.accelerator` of train
and bench, mean the same thing and fail the same way when a GPU is asked for where there is none."""

from __future__ import annotations

import torch

from fer_lightning.errors import ConfigError

GPU_ACCELERATORS = ("gpu", "cuda")


def resolve_device(device: str | None, *, key: str = "device", instead: str = "device=cpu (or auto)") -> str:
    """`auto` (or null) is the GPU when there is one, else the CPU; `gpu` is `cuda`; a missing GPU is an error."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    given = str(device)
    device = "cuda" if given == "gpu" else given
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise ConfigError(f"{key}={given}: not a device; allowed: auto, cpu, cuda, cuda:<index>") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"{key}={given}: no CUDA GPU is visible on this machine (torch.cuda.is_available() is false); "
            f"use {instead}"
        )
    return device


def accelerator_device(accelerator: str) -> torch.device:
    """Where a Lightning `trainer.accelerator` runs the model: the GPU for gpu, cuda and auto on a GPU machine."""
    if accelerator in (*GPU_ACCELERATORS, "auto"):
        return torch.device(
            resolve_device(accelerator, key="trainer.accelerator", instead="trainer=cpu or trainer=default")
        )
    return torch.device("cpu")  # cpu, and accelerators this project does not place data for (mps, tpu)
