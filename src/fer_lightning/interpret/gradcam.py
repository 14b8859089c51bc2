"""Grad-CAM: where in the face the last conv layer (or a named layer) finds evidence for a class."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from fer_lightning.errors import ConfigError
from fer_lightning.interpret.layer_lookup import find_layer, last_conv_layer
from fer_lightning.plotting import image_to_display, new_figure


def grad_cam(
    net: nn.Module, x: torch.Tensor, classes: Sequence[int], layer: str | None = None
) -> tuple[dict[int, torch.Tensor], torch.Tensor, str]:
    """Grad-CAM maps [H, W] in [0, 1] at input resolution for each class in `classes`, the probabilities [K], and the layer.

    The map is ReLU(sum_c mean(dscore/dA_c) * A_c) over the channels c of the layer's output A.
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"expected a batch of one image [1, C, H, W], got {tuple(x.shape)}")
    net.eval()
    name = layer or last_conv_layer(net, x)
    module = find_layer(net, name)
    captured: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        captured["a"] = output
        # The network continues on a copy: an in-place activation after this layer would otherwise
        # change the captured tensor and break its gradient.
        return output.clone()

    handle = module.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            logits = net(x.detach())
            if "a" not in captured or captured["a"].dim() != 4:
                raise ConfigError(
                    f"layer={name!r} does not output a [B, C, H, W] feature map; pick a conv layer"
                )
            activation = captured["a"]
            if not activation.requires_grad:
                raise ConfigError(f"layer={name!r}: its output carries no gradient (are its weights frozen?)")
            cams = {}
            for cls in dict.fromkeys(int(c) for c in classes):
                (grad,) = torch.autograd.grad(logits[0, cls], activation, retain_graph=True)
                weights = grad[0].mean(dim=(1, 2))
                cam = F.relu((weights[:, None, None] * activation[0]).sum(dim=0)).detach()
                cam = F.interpolate(cam[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[
                    0, 0
                ]
                cams[cls] = cam / cam.max() if cam.max() > 0 else cam
    finally:
        handle.remove()
    return {c: m.cpu() for c, m in cams.items()}, logits.detach().float().softmax(dim=1)[0].cpu(), name


def gradcam_figure(
    image_uint8: torch.Tensor,
    cams: dict[int, torch.Tensor],
    probs: torch.Tensor,
    class_names: Sequence[str],
    label: int | None = None,
    layer: str = "",
) -> Figure:
    """The image, then its Grad-CAM overlay for the predicted class and (when known and different) the true class."""
    pred = int(probs.argmax())
    shown = [(pred, "predicted")]
    if label is not None and int(label) != pred:
        shown.append((int(label), "true"))
    shown = [(c, role) for c, role in shown if c in cams]
    fig = new_figure(2.8 * (1 + len(shown)), 3.2)
    axes = fig.subplots(1, 1 + len(shown), squeeze=False).ravel()
    arr, cmap = image_to_display(image_uint8)
    gray = np.asarray(arr, dtype=np.float32)
    gray = gray.mean(axis=-1) if gray.ndim == 3 else gray
    axes[0].imshow(arr, cmap=cmap, vmin=0, vmax=255)
    axes[0].set_title("input" + (f" (true {class_names[label]})" if label is not None else ""), fontsize=8)
    for ax, (cls, role) in zip(axes[1:], shown, strict=True):
        ax.imshow(gray, cmap="gray", vmin=0, vmax=255)
        ax.imshow(cams[cls].numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        ax.set_title(f"{role}: {class_names[cls]} (p={probs[cls]:.2f})", fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"Grad-CAM on {layer}" if layer else "Grad-CAM", fontsize=9)
    fig.tight_layout()
    return fig
