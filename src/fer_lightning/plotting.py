"""Matplotlib plumbing shared by every figure: an Agg figure, PNG and tensor output, image panels and grids."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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
