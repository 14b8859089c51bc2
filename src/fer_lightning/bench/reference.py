"""A training loop written the way the seed reports wrote theirs: per-sample PIL transforms in DataLoader workers."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms


class PILFaces(Dataset):
    """uint8 faces served one at a time as PIL images through torchvision transforms, as the seed code did."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.images = images.permute(0, 2, 3, 1).numpy()
        self.labels = labels.numpy()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        img = self.images[i]
        pil = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
        return self.transform(pil), int(self.labels[i])


def seed_transforms(image_size: int, channels: int) -> transforms.Compose:
    """The seed-002 training transforms (reflect pad 4, RandomResizedCrop scale 0.5-1, flip, normalise 0.5/0.5)."""
    return transforms.Compose(
        [
            transforms.Pad(4, padding_mode="reflect"),
            transforms.RandomResizedCrop(image_size, scale=(0.5, 1.0)),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize([0.5] * channels, [0.5] * channels),
        ]
    )


def measure_reference(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int,
    steps: int,
    warmup: int = 2,
    num_workers: int = 2,
    device: str | torch.device = "cpu",
) -> float:
    """Images per second of an fp32, contiguous loop fed by a shuffled DataLoader with worker processes."""
    dev = torch.device(device)
    net = net.to(dev).train()
    dataset = PILFaces(images, labels, seed_transforms(images.shape[-1], images.shape[1]))
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=num_workers,
        drop_last=True,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(0),
    )
    seen, start = 0, None
    done = 0
    while done < warmup + steps:
        for x, y in loader:
            if done == warmup:
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                start = time.perf_counter()
            x, y = x.to(dev), y.to(dev)
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            optimizer.step()
            done += 1
            if done > warmup:
                seen += len(y)
            if done >= warmup + steps:
                break
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return seen / (time.perf_counter() - start) if start else float("nan")
