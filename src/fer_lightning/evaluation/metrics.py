"""Classification metrics from logits: accuracy, macro and per-class precision / recall / F1, confusion."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts [true, predicted] as an int64 matrix."""
    index = labels.long() * num_classes + preds.long()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def classification_report(logits: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str]) -> dict:
    """Accuracy, macro P/R/F1 and per-class P/R/F1/support (classes absent from the labels are left out of macro)."""
    num_classes = len(class_names)
    preds = logits.argmax(dim=1)
    cm = confusion_matrix(preds, labels, num_classes).double()
    tp = cm.diag()
    support = cm.sum(dim=1)
    predicted = cm.sum(dim=0)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), torch.zeros_like(tp))
    present = support > 0
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    }
    return {
        "n": int(labels.numel()),
        "accuracy": float(tp.sum() / cm.sum().clamp(min=1)),
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": per_class,
        "confusion_matrix": cm.long().tolist(),
    }
