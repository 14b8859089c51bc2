"""Evaluation figures: confusion matrix, misclassified faces, training curves; as PNG files or TensorBoard images."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fer_lightning.runtime.jsonio import atomic_path

# Figures are built on their own Agg canvas rather than through pyplot: no global figure registry to leak
# from a long training run, and no display needed on servers and CI.


def new_figure(width: float, height: float) -> Figure:
    """A Figure drawn by Agg, independent of pyplot's current backend."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write a figure as PNG (creating the parent dir) and return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return path


def figure_to_tensor(fig: Figure, dpi: int = 100) -> torch.Tensor:
    """Render a figure to a uint8 [3, H, W] tensor, the layout `SummaryWriter.add_image` takes by default."""
    fig.set_dpi(dpi)
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return torch.from_numpy(rgba[..., :3].copy()).permute(2, 0, 1).contiguous()


def _annotate_cells(ax, values: np.ndarray, fmt: str, threshold: float) -> None:
    # Text colour flips on dark cells so every number stays readable.
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(
                j,
                i,
                format(values[i, j], fmt),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if values[i, j] > threshold else "black",
            )


def confusion_matrix_figure(cm, class_names: Sequence[str], title: str | None = None) -> Figure:
    """Two panels of a [true, predicted] confusion matrix: raw counts, and rows normalised to recall."""
    counts = np.asarray(torch.as_tensor(cm).cpu(), dtype=np.float64)
    k = counts.shape[0]
    if counts.shape != (k, k) or len(class_names) != k:
        raise ValueError(
            f"confusion matrix of shape {counts.shape} does not match {len(class_names)} class names"
        )
    support = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)
    side = 2.6 + 0.55 * k
    fig = new_figure(2 * side + 1.0, side)
    axes = fig.subplots(1, 2)
    panels = (
        (axes[0], counts, "counts", "d", counts.max() / 2 if counts.max() > 0 else 1.0, None),
        (axes[1], normalised, "normalised by true class (recall)", ".2f", 0.5, (0.0, 1.0)),
    )
    for ax, values, name, fmt, threshold, limits in panels:
        vmin, vmax = limits or (0.0, max(values.max(), 1.0))
        im = ax.imshow(values, cmap="Blues", vmin=vmin, vmax=vmax)
        shown = values.astype(np.int64) if fmt == "d" else values
        _annotate_cells(ax, shown, fmt, threshold)
        ax.set_xticks(range(k), class_names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(k), class_names, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def image_to_display(image) -> tuple[np.ndarray, str | None]:
    """A [C, H, W] (or [H, W]) image as an array imshow takes, and the colormap it needs (gray for one channel)."""
    arr = np.asarray(torch.as_tensor(image).detach().cpu())
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    elif arr.ndim == 3:
        arr = arr.transpose(1, 2, 0)
    return arr, ("gray" if arr.ndim == 2 else None)


def grid_shape(n: int, max_cols: int = 8) -> tuple[int, int]:
    """Rows and columns of a near-square grid holding `n` panels."""
    cols = max(1, min(max_cols, math.ceil(math.sqrt(n))))
    return max(1, math.ceil(n / cols)), cols


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
