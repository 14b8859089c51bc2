"""Throughput of a batch augmentation pipeline, in images per second."""

from __future__ import annotations

import time

import torch
from torch import nn


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def measure_augment(
    augment: nn.Module,
    batch_size: int = 256,
    image_size: int = 48,
    channels: int = 1,
    device: str | torch.device = "cpu",
    seconds: float = 2.0,
    *,
    num_threads: int | None = None,
) -> float:
    """Images per second through the training-time path: uint8 -> [0, 1], ``augment``, normalise, ``add_noise``.

    A random uint8 batch is made on ``device``; a short warm-up (about a tenth of ``seconds``, at
    least two batches) runs first so lazy initialisation and allocator growth are not timed.
    ``num_threads`` sets torch's intra-op threads for the measurement only: on a CPU shared with
    other jobs, multi-threaded ops stall whenever one of their threads is descheduled, so
    ``num_threads=1`` gives steadier numbers there.
    """
    if batch_size <= 0 or image_size <= 0 or channels <= 0 or seconds <= 0:
        raise ValueError(
            f"batch_size, image_size, channels and seconds must be positive, got {batch_size}, {image_size}, {channels}, {seconds}"
        )
    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return _measure(augment, batch_size, image_size, channels, torch.device(device), seconds)
    finally:
        torch.set_num_threads(previous_threads)


def _measure(
    augment: nn.Module, batch_size: int, image_size: int, channels: int, dev: torch.device, seconds: float
) -> float:
    augment = augment.to(dev)
    generator = torch.Generator(device=dev).manual_seed(0)
    images = torch.randint(
        0,
        256,
        (batch_size, channels, image_size, image_size),
        generator=generator,
        device=dev,
        dtype=torch.uint8,
    )
    add_noise = getattr(augment, "add_noise", None)

    def step() -> None:
        x = augment(images.float().div_(255.0), generator=generator)
        x = (x - 0.5) / 0.25
        if add_noise is not None:
            add_noise(x, generator=generator)

    warm_until = time.perf_counter() + 0.1 * seconds
    warmed = 0
    while warmed < 2 or time.perf_counter() < warm_until:
        step()
        warmed += 1
    _sync(dev)

    done = 0
    start = time.perf_counter()
    while True:
        step()
        _sync(dev)  # on CUDA, time finished work rather than queued launches
        done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done * batch_size / elapsed
