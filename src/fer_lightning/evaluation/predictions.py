"""Running a trained classifier over a whole split, with optional test-time augmentation."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fer_lightning.augment.tta import check_mode, tta_logits
from fer_lightning.data.datamodule import InMemoryDataModule


@dataclass
class Predictions:
    """Logits, labels and the uint8 images they came from, for one split."""

    logits: torch.Tensor
    labels: torch.Tensor
    images: torch.Tensor


@torch.no_grad()
def predict_split(
    model: torch.nn.Module,
    datamodule: InMemoryDataModule,
    split: str = "test",
    *,
    tta: str = "none",
    device: str | torch.device = "cpu",
) -> Predictions:
    """Logits of `model` for every image of a split, averaged over TTA views when `tta` is flip or tencrop."""
    check_mode(tta)
    loader = datamodule._loader(split, train=False)
    model = model.to(device).eval()
    logits, labels = [], []
    for images, y, _ in loader:
        x = datamodule.to_model_input(images.to(device))
        out = model(x) if tta == "none" else tta_logits(model, x, tta)
        logits.append(out.float().cpu())
        labels.append(y.cpu())
    split_data = datamodule.splits[split]
    return Predictions(torch.cat(logits), torch.cat(labels), split_data.images.cpu())
