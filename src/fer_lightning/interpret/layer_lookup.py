"""Finding the layers to look into, by module type, so every network of the zoo works without per-model code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from fer_lightning.errors import ConfigError


def conv_layers(net: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every Conv2d of `net` with its dotted name, in registration order."""
    return [(name, m) for name, m in net.named_modules() if isinstance(m, nn.Conv2d)]


@torch.no_grad()
def execution_order(net: nn.Module, x: torch.Tensor, modules: list[tuple[str, nn.Module]]) -> list[str]:
    """Names of `modules` in the order a forward pass on `x` calls them (modules it never calls are left out).

    Registration order is not call order: a residual block registers its shortcut conv after its main path.
    """
    order: list[str] = []
    handles = [m.register_forward_hook(lambda *_, n=name: order.append(n)) for name, m in modules]
    was_training = net.training
    try:
        net.eval()
        net(x)
    finally:
        net.train(was_training)
        for h in handles:
            h.remove()
    seen: dict[str, None] = {}
    for name in order:
        seen.setdefault(name, None)
    return list(seen)


def find_layer(net: nn.Module, name: str) -> nn.Module:
    """The sub-module called `name`, or a ConfigError listing the network's conv layers."""
    modules = dict(net.named_modules())
    if name not in modules or name == "":
        names = ", ".join(n for n, _ in conv_layers(net)) or "(none)"
        raise ConfigError(f"layer={name!r} is not a module of {type(net).__name__}; conv layers: {names}")
    return modules[name]


def last_conv_layer(net: nn.Module, x: torch.Tensor) -> str:
    """Name of the Conv2d a forward pass on `x` runs last."""
    convs = conv_layers(net)
    if not convs:
        raise ConfigError(f"{type(net).__name__} has no Conv2d layer to look into")
    ordered = execution_order(net, x, convs)
    return ordered[-1] if ordered else convs[-1][0]


@contextmanager
def capture_outputs(modules: dict[str, nn.Module]) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, the output of each named module on the last forward pass (detached copies).

    A copy, because an in-place activation (ReLU(inplace=True)) right after a conv would otherwise
    overwrite the stored output.
    """
    outputs: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def store(_module, _inputs, output):
            if isinstance(output, torch.Tensor):
                outputs[name] = output.detach().clone()

        return store

    handles = [m.register_forward_hook(hook(name)) for name, m in modules.items()]
    try:
        yield outputs
    finally:
        for h in handles:
            h.remove()
