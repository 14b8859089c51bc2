"""Learned convolution filters as image grids, first layer to last."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure
from torch import nn

from fer_lightning.interpret.layer_lookup import conv_layers
from fer_lightning.plotting import grid_shape, new_figure


def filter_images(conv: nn.Conv2d, as_color: bool = False) -> torch.Tensor:
    """A conv's kernels as displayable images in [0, 1]: [out, kh, kw], or [out, 3, kh, kw] with `as_color`.

    Deeper layers see many input channels; the mean over them shows the spatial pattern each filter
    responds to on average. Each filter is scaled to its own range so weak filters are still visible.
    """
    w = conv.weight.detach().float().cpu()
    images = w if as_color and w.shape[1] == 3 else w.mean(dim=1)
    flat = images.flatten(1)
    lo = flat.min(dim=1).values.view(-1, *([1] * (images.dim() - 1)))
    hi = flat.max(dim=1).values.view(-1, *([1] * (images.dim() - 1)))
    return (images - lo) / (hi - lo).clamp(min=1e-12)


def filters_figure(name: str, conv: nn.Conv2d, first: bool = False, max_filters: int = 64) -> Figure:
    """Grid of one conv layer's filters; the first layer of an RGB model is shown in colour."""
    images = filter_images(conv, as_color=first)[:max_filters]
    n = images.shape[0]
    rows, cols = grid_shape(n, max_cols=8)
    fig = new_figure(1.1 * cols + 0.4, 1.1 * rows + 0.8)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for i in range(n):
        img = images[i]
        if img.dim() == 3:
            axes[i].imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
        else:
            axes[i].imshow(img.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[i].set_title(str(i), fontsize=6)
    kind = "as images" if first else "mean over input channels"
    shown = f", first {n} of {conv.out_channels}" if n < conv.out_channels else ""
    kh, kw = conv.kernel_size
    fig.suptitle(f"{name}: {conv.in_channels}->{conv.out_channels}, {kh}x{kw} ({kind}{shown})", fontsize=8)
    fig.tight_layout()
    return fig


def all_filter_figures(net: nn.Module, max_filters: int = 64) -> list[tuple[str, Figure]]:
    """One figure per Conv2d of `net`, in registration order (the first conv is the input layer)."""
    return [
        (name, filters_figure(name, conv, first=i == 0, max_filters=max_filters))
        for i, (name, conv) in enumerate(conv_layers(net))
    ]
