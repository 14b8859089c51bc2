"""The evaluation report's numbers (through torchmetrics) and its confusion-matrix figure, on a case worked by hand."""

from __future__ import annotations

import pytest
import torch

from fer_lightning.evaluation.figures import confusion_matrix_figure
from fer_lightning.evaluation.metrics import classification_report

NAMES = ["a", "b", "c"]
LABELS = torch.tensor([0, 0, 1, 1, 0])
PREDS = torch.tensor([0, 1, 1, 1, 2])  # class c is predicted once but never a label


def test_classification_report_matches_the_hand_computed_values():
    """Per-class values for every class; macro averages only over the classes the labels contain."""
    report = classification_report(torch.nn.functional.one_hot(PREDS, 3).float(), LABELS, NAMES)
    assert report["confusion_matrix"] == [[1, 1, 1], [0, 2, 0], [0, 0, 0]]
    assert report["n"] == 5
    assert report["accuracy"] == pytest.approx(0.6)
    assert report["per_class"]["a"] == pytest.approx(
        {"precision": 1.0, "recall": 1 / 3, "f1": 0.5, "support": 3}
    )
    assert report["per_class"]["b"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["macro_precision"] == pytest.approx(5 / 6)
    assert report["macro_recall"] == pytest.approx(2 / 3)
    assert report["macro_f1"] == pytest.approx(0.65)


def test_confusion_matrix_figure_shows_counts_and_recall():
    """One panel of counts, one of rows normalised to recall, each cell written in it."""
    cm = torch.tensor([[1, 1, 1], [0, 2, 0], [0, 0, 0]])
    fig = confusion_matrix_figure(cm, NAMES, title="validation")
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert [t.get_text() for t in panels["counts"].texts] == ["1", "1", "1", "0", "2", "0", "0", "0", "0"]
    recall = [float(t.get_text()) for t in panels["normalised by true class (recall)"].texts]
    assert recall == pytest.approx([0.33, 0.33, 0.33, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    assert [t.get_text() for t in panels["counts"].get_xticklabels()] == NAMES
    with pytest.raises(ValueError, match="does not match 2 class names"):
        confusion_matrix_figure(cm, NAMES[:2])
