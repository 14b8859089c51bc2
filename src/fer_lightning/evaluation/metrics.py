"""Classification metrics from logits: accuracy, macro and per-class precision / recall / F1, confusion."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)


def classification_report(logits: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str]) -> dict:
    """Accuracy, macro P/R/F1 and per-class P/R/F1/support (classes absent from the labels are left out of macro)."""
    num_classes = len(class_names)
    preds = logits.argmax(dim=1)
    labels = labels.long()
    args = (preds, labels, num_classes)
    cm = multiclass_confusion_matrix(*args)
    support = cm.sum(dim=1)
    per_metric = {
        "precision": multiclass_precision(*args, average="none"),
        "recall": multiclass_recall(*args, average="none"),
        "f1": multiclass_f1_score(*args, average="none"),
    }
    # torchmetrics' macro average keeps a class that is only predicted; the report's macro is over the classes
    # the labels contain, so it is taken over the per-class values here.
    present = support > 0
    per_class = {
        name: {
            **{metric: float(values[i]) for metric, values in per_metric.items()},
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    }
    macro = {
        f"macro_{metric}": float(values[present].mean()) if present.any() else 0.0
        for metric, values in per_metric.items()
    }
    return {
        "n": int(labels.numel()),
        "accuracy": float(multiclass_accuracy(*args, average="micro")),
        **macro,
        "per_class": per_class,
        "confusion_matrix": cm.long().tolist(),
    }
