"""Per-layer activation maps of one image, captured with forward hooks on the conv layers."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure
from torch import nn

from fer_lightning.interpret.layer_lookup import capture_outputs, conv_layers, execution_order, find_layer
from fer_lightning.plotting import grid_shape, image_to_display, new_figure


@torch.no_grad()
def layer_activations(
    net: nn.Module, x: torch.Tensor, layers: list[str] | None = None
) -> dict[str, torch.Tensor]:
    """Output maps [C, H, W] of each conv layer (or of the named `layers`) for a one-image batch `x`, in call order."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"expected a batch of one image [1, C, H, W], got {tuple(x.shape)}")
    net.eval()
    modules = {name: find_layer(net, name) for name in layers} if layers else dict(conv_layers(net))
    with capture_outputs(modules) as outputs:
        net(x)
    order = execution_order(net, x, list(modules.items())) if not layers else list(layers)
    return {name: outputs[name][0] for name in order if name in outputs and outputs[name].dim() == 4}


def activations_figure(
    name: str, maps: torch.Tensor, image_uint8: torch.Tensor | None = None, max_maps: int = 64
) -> Figure:
    """Grid of a layer's channel maps (each scaled to its own range), preceded by the input image when given."""
    total = maps.shape[0]
    maps = maps[:max_maps].float().cpu()
    panels = maps.shape[0] + (1 if image_uint8 is not None else 0)
    rows, cols = grid_shape(panels, max_cols=8)
    fig = new_figure(1.3 * cols + 0.4, 1.4 * rows + 0.8)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    offset = 0
    if image_uint8 is not None:
        arr, cmap = image_to_display(image_uint8)
        axes[0].imshow(arr, cmap=cmap, vmin=0, vmax=255)
        axes[0].set_title("input", fontsize=6)
        offset = 1
    for i in range(maps.shape[0]):
        axes[offset + i].imshow(maps[i].numpy(), cmap="viridis", interpolation="nearest")
        axes[offset + i].set_title(f"{i}: max {maps[i].max():.2g}", fontsize=6)
    _, h, w = maps.shape
    shown = f" (first {maps.shape[0]})" if maps.shape[0] < total else ""
    fig.suptitle(f"{name}: {total} maps of {h}x{w}{shown}", fontsize=8)
    fig.tight_layout()
    return fig
