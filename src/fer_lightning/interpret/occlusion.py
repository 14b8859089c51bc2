"""Occlusion sensitivity: how much each class probability drops when a patch of the face is hidden."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from fer_lightning.errors import ConfigError
from fer_lightning.plotting import image_to_display, new_figure


def patch_positions(size: int, patch: int, stride: int) -> torch.Tensor:
    """Top-left offsets of the patches along one side; the last patch is flush with the border so all pixels are covered."""
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return torch.tensor(starts)


def occlusion_masks(height: int, width: int, patch: int, stride: int) -> torch.Tensor:
    """Boolean masks [N, H, W], True inside each of the N patch positions (row-major)."""
    rows, cols = patch_positions(height, patch, stride), patch_positions(width, patch, stride)
    ys, xs = torch.arange(height), torch.arange(width)
    in_rows = (ys[None, :] >= rows[:, None]) & (ys[None, :] < rows[:, None] + patch)  # [nr, H]
    in_cols = (xs[None, :] >= cols[:, None]) & (xs[None, :] < cols[:, None] + patch)  # [nc, W]
    return (in_rows[:, None, :, None] & in_cols[None, :, None, :]).reshape(-1, height, width)


@torch.no_grad()
def occlusion_sensitivity(
    net: nn.Module,
    x: torch.Tensor,
    patch: int = 8,
    stride: int = 4,
    fill: float = 0.0,
    batch_size: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class probability drop maps [K, H, W] for a one-image batch `x`, and the unoccluded probabilities [K].

    Each pixel's value is the mean drop over the patches that cover it. `fill` is in the normalised space the
    model sees: 0 is the data mean, so a patch looks like a flat average face region rather than black.
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"expected a batch of one image [1, C, H, W], got {tuple(x.shape)}")
    _, _, h, w = x.shape
    if not (1 <= patch <= min(h, w)) or stride < 1:
        raise ConfigError(
            f"occlusion.patch={patch} must lie in [1, {min(h, w)}] and occlusion.stride={stride} be >= 1"
        )
    net.eval()
    base = net(x).float().softmax(dim=1)[0]
    masks = occlusion_masks(h, w, patch, stride).to(x.device)
    drops = []
    # All occluded copies go through the network as batches; chunks bound memory for large inputs.
    for chunk in masks.split(batch_size):
        occluded = torch.where(chunk[:, None], torch.as_tensor(fill, dtype=x.dtype, device=x.device), x)
        drops.append(base[None] - net(occluded).float().softmax(dim=1))
    drop = torch.cat(drops)  # [N, K]
    weights = masks.float()
    heat = torch.einsum("nk,nhw->khw", drop, weights) / weights.sum(dim=0).clamp(min=1)
    return heat.cpu(), base.cpu()


def occlusion_figure(
    image_uint8: torch.Tensor,
    heat: torch.Tensor,
    probs: torch.Tensor,
    class_names: Sequence[str],
    label: int | None = None,
    patch: int | None = None,
) -> Figure:
    """The image, then one drop map per class (red: hiding the region lowers that class's probability)."""
    k = heat.shape[0]
    cols = min(4, k + 1)
    rows = -(-(k + 1) // cols)
    fig = new_figure(2.4 * cols, 2.5 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    arr, cmap = image_to_display(image_uint8)
    axes[0].imshow(arr, cmap=cmap, vmin=0, vmax=255)
    pred = int(probs.argmax())
    true = f"true {class_names[label]}, " if label is not None else ""
    axes[0].set_title(f"{true}pred {class_names[pred]}", fontsize=7)
    # One symmetric colour scale over all classes, so maps can be compared with each other.
    limit = float(heat.abs().max()) or 1.0
    gray = np.asarray(image_to_display(image_uint8)[0], dtype=np.float32)
    gray = gray.mean(axis=-1) if gray.ndim == 3 else gray
    im = None
    for c in range(k):
        ax = axes[c + 1]
        ax.imshow(gray, cmap="gray", vmin=0, vmax=255)
        im = ax.imshow(heat[c].numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, alpha=0.6)
        ax.set_title(
            f"{class_names[c]} (p={probs[c]:.2f})", fontsize=7, fontweight="bold" if c == pred else "normal"
        )
    if im is not None:
        fig.colorbar(im, ax=axes[1 : k + 1].tolist(), fraction=0.02, pad=0.02, label="probability drop")
    fig.suptitle("occlusion sensitivity" + (f" ({patch}x{patch} patch)" if patch else ""), fontsize=9)
    return fig
