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


def average_probabilities(members: list[Predictions]) -> Predictions:
    """An ensemble's predictions: the mean of its members' softmax, as log-probabilities (argmax and softmax of
    the result are the ensemble's vote and its probabilities)."""
    if not members:
        raise ValueError("an ensemble needs at least one member's predictions")
    first = members[0]
    for i, other in enumerate(members[1:], start=1):
        if other.logits.shape != first.logits.shape or not torch.equal(other.labels, first.labels):
            raise ValueError(
                f"ensemble member {i} predicted {tuple(other.logits.shape)} for other labels than member 0 "
                f"{tuple(first.logits.shape)}: members must score the same split"
            )
    probs = torch.stack([m.logits.float().softmax(dim=1) for m in members]).mean(dim=0)
    # clamp: a class to which every member gives a probability of exactly 0 would be log(0) = -inf
    return Predictions(probs.clamp_min(1e-12).log(), first.labels, first.images)
