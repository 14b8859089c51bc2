"""The cost of the network alone: forward + backward + optimizer step on pre-made batches."""

from __future__ import annotations

import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast_for(precision: str, device: torch.device):
    """The autocast context Lightning would use for a precision string."""
    if precision.startswith("bf16"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision.startswith("16"):
        return torch.autocast(device.type, dtype=torch.float16)
    return nullcontext()


def measure_model_step(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    batch_size: int,
    input_shape: tuple[int, int, int],
    num_classes: int,
    precision: str = "32-true",
    channels_last: bool = False,
    device: str | torch.device = "cpu",
    steps: int = 20,
    warmup: int = 3,
) -> float:
    """Images per second of training steps on ready tensors in the given precision and memory format."""
    dev = torch.device(device)
    net = net.to(dev).train()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, *input_shape, generator=gen).to(dev)
    y = torch.randint(0, num_classes, (batch_size,), generator=gen).to(dev)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler(dev.type, enabled=precision.startswith("16") and dev.type == "cuda")

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast_for(precision, dev):
            loss = F.cross_entropy(net(x).float(), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(warmup):
        step()
    _sync(dev)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(dev)
    return steps * batch_size / (time.perf_counter() - start)
