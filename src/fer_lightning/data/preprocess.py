"""What a model sees, defined once: uint8 images -> floats in [0, 1] -> (x - mean) / std per channel.

The DataModule applies it to every batch (augmenting in between in training) and `inference.faces.ModelInput` to
the images it predicts on, so training and inference cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fer_lightning.errors import ConfigError


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1], the range augmentation works in."""
    return images.float().div_(255.0)


class Normalisation:
    """Per-channel (x - mean) / std of images in [0, 1], with the `data.mean` / `data.std` rules."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], channels: int | None = None) -> None:
        for key, values in (("data.mean", mean), ("data.std", std)):
            if channels is not None and len(values) not in (1, channels):
                raise ConfigError(f"{key} has {len(values)} values; give 1 or data.channels={channels}")
        if any(s <= 0 for s in std):
            raise ConfigError(f"data.std={list(std)} must be positive")
        self.mean = torch.tensor([float(v) for v in mean], dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor([float(v) for v in std], dtype=torch.float32).view(1, -1, 1, 1)
        # copied to each device once: a host-to-device copy every batch would make the host wait on the GPU
        self._on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise a float batch [N, C, H, W] in [0, 1] on its own device."""
        stats = self._on_device.get(x.device)
        if stats is None:
            stats = self._on_device[x.device] = (self.mean.to(x.device), self.std.to(x.device))
        return (x - stats[0]) / stats[1]

    def model_input(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [N, C, H, W] -> the float batch a model sees (no augmentation)."""
        return self(to_unit(images))
