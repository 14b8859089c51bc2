"""Evaluation figures: confusion matrix, misclassified faces, training curves; as PNG files or TensorBoard images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torchmetrics.utilities.plot import plot_confusion_matrix

from fer_lightning.plotting import grid_shape, image_to_display, new_figure


def confusion_matrix_figure(cm, class_names: Sequence[str], title: str | None = None) -> Figure:
    """Two panels of a [true, predicted] confusion matrix: raw counts, and rows normalised to recall."""
    counts = torch.as_tensor(cm).detach().cpu().long()
    k = counts.shape[0]
    if counts.shape != (k, k) or len(class_names) != k:
        raise ValueError(
            f"confusion matrix of shape {tuple(counts.shape)} does not match {len(class_names)} class names"
        )
    support = counts.sum(dim=1, keepdim=True)
    normalised = torch.where(
        support > 0, counts / support.clamp(min=1), torch.zeros(k, k, dtype=torch.float64)
    )
    side = 2.6 + 0.55 * k
    fig = new_figure(2 * side + 1.0, side)
    axes = fig.subplots(1, 2)
    for ax, values, name in (
        (axes[0], counts, "counts"),
        (axes[1], normalised, "normalised by true class (recall)"),
    ):
        plot_confusion_matrix(values, ax=ax, labels=list(class_names), cmap="Blues")
        # torchmetrics sizes its text for one large panel; two panels of up to 8 classes need smaller type.
        for text in ax.texts:
            text.set_fontsize(7)
        ax.tick_params(labelsize=8)
        ax.set_xlabel("predicted", fontsize=9)
        ax.set_ylabel("true", fontsize=9)
        ax.set_title(name, fontsize=9)
        fig.colorbar(ax.images[0], ax=ax, fraction=0.046, pad=0.04)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def misclassified_figure(
    images_uint8,
    labels,
    preds,
    probs,
    class_names: Sequence[str],
    max_items: int = 25,
    title: str | None = None,
) -> Figure:
    """Grid of wrongly predicted images, most confident mistakes first, captioned true / predicted (confidence)."""
    labels = torch.as_tensor(labels).cpu().long()
    preds = torch.as_tensor(preds).cpu().long()
    probs = torch.as_tensor(probs).cpu().float()
    wrong = (preds != labels).nonzero().squeeze(1)
    confidence = probs[wrong, preds[wrong]]
    # The most confident mistakes say most about what the model has learned wrong.
    order = wrong[confidence.argsort(descending=True)][: max(0, int(max_items))]
    if len(order) == 0:
        fig = new_figure(4, 2)
        fig.text(0.5, 0.5, f"no misclassified images (n={len(labels)})", ha="center", va="center")
        return fig
    rows, cols = grid_shape(len(order), max_cols=5 if len(order) <= 25 else 8)
    fig = new_figure(1.9 * cols, 2.2 * rows + 0.4)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, order.tolist(), strict=False):
        arr, cmap = image_to_display(images_uint8[i])
        ax.imshow(arr, cmap=cmap, vmin=0, vmax=255)
        ax.set_title(
            f"true: {class_names[labels[i]]}\npred: {class_names[preds[i]]} ({probs[i, preds[i]]:.2f})",
            fontsize=7,
        )
    n_wrong, n = len(wrong), len(labels)
    fig.suptitle(
        (title + "\n" if title else "") + f"{n_wrong} of {n} misclassified; showing {len(order)}", fontsize=9
    )
    fig.tight_layout()
    return fig


def curves_figure(history: Sequence[dict], title: str | None = None) -> Figure:
    """Loss and accuracy per epoch, training against validation, from `epoch_metrics.json` rows."""
    fig = new_figure(10, 4)
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "acc"), strict=True):
        for stage, style in (("train", "o-"), ("val", "s-")):
            key = f"{stage}/{metric}"
            points = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
            if points:
                epochs, values = zip(*points, strict=True)
                ax.plot(epochs, values, style, ms=3, label=stage)
        ax.set_xlabel("epoch")
        epochs = sorted({h["epoch"] for h in history if "epoch" in h})
        if 0 < len(epochs) <= 15:
            ax.set_xticks(epochs)
            ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("accuracy" if metric == "acc" else "loss")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
