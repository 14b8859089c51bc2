"""Exporting a trained network to ONNX or TorchScript, checked against PyTorch on the same batch."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from fer_lightning.errors import ConfigError, FERError
from fer_lightning.inference.faces import ModelInput
from fer_lightning.runtime.jsonio import atomic_path

FORMATS = ("onnx", "torchscript")
FILE_NAMES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
DEFAULT_ATOL = 1e-4


class ParityError(FERError, RuntimeError):
    """The exported model's logits differ from PyTorch's by more than the tolerance."""


def example_batch(model_input: ModelInput, batch_size: int, seed: int = 0) -> torch.Tensor:
    """A normalised batch of random uint8 images: inputs in exactly the range the model sees in use."""
    gen = torch.Generator().manual_seed(seed)
    shape = (batch_size, model_input.channels, model_input.image_size, model_input.image_size)
    return model_input.normalise(torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8))


def export_onnx(net: nn.Module, path: str | Path, example: torch.Tensor, opset: int = 17) -> Path:
    """Write `net` as ONNX with input `input` [batch, C, H, W] and output `logits` [batch, K], batch dynamic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = net.cpu().eval()
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of the dynamo one, which needs onnxscript
        # (not a dependency here); it still writes standard ONNX that onnxruntime runs.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(
            net,
            (example.cpu(),),
            str(path),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=int(opset),
            dynamo=False,
        )
    import onnx

    onnx.checker.check_model(str(path))
    return path


def export_torchscript(net: nn.Module, path: str | Path, example: torch.Tensor) -> Path:
    """Write `net` as a traced TorchScript module (any batch size; loads with `torch.jit.load`, no Python code)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = net.cpu().eval()
    with warnings.catch_warnings(), torch.no_grad():
        # torch.jit is deprecated upstream but remains the one format C++ (libtorch) and mobile runtimes load.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(net, example.cpu())
        torch.jit.save(traced, str(path))
    return path


def run_exported(path: str | Path, fmt: str, x: torch.Tensor) -> torch.Tensor:
    """Logits of an exported model on batch `x`, computed by onnxruntime or the loaded TorchScript module."""
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (out,) = session.run(["logits"], {"input": x.cpu().numpy()})
        return torch.from_numpy(out)
    if fmt == "torchscript":
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu")(x.cpu()).float()
    raise ConfigError(f"format={fmt!r}; allowed: format={'|'.join(FORMATS)}")


@torch.no_grad()
def check_parity(
    net: nn.Module,
    path: str | Path,
    fmt: str,
    x: torch.Tensor,
    atol: float = DEFAULT_ATOL,
    shown_as: str | Path | None = None,
) -> dict:
    """Compare the exported model's logits with PyTorch's on `x`; raise ParityError when the max abs diff exceeds `atol`.

    `shown_as` names the file in messages when `path` is a temporary copy of it.
    """
    expected = net.cpu().eval()(x.cpu()).float()
    got = run_exported(path, fmt, x)
    path = shown_as or path
    if got.shape != expected.shape:
        raise ParityError(
            f"{fmt} model at {path} returned logits of shape {tuple(got.shape)}, PyTorch {tuple(expected.shape)}"
        )
    diff = float((got - expected).abs().max())
    result = {
        "format": fmt,
        "batch_size": int(x.shape[0]),
        "max_abs_diff": diff,
        "atol": float(atol),
        "ok": diff <= atol,
    }
    if not result["ok"]:  # also catches NaN, which compares false to everything
        raise ParityError(
            f"{fmt} export at {path} does not match PyTorch: max abs logit difference {diff:.3g} > {atol:g} on a batch "
            f"of {x.shape[0]}; the model may use an operator the exporter translates differently"
        )
    return result


def export_model(
    net: nn.Module,
    model_input: ModelInput,
    fmt: str,
    output_dir: str | Path,
    *,
    opset: int = 17,
    batch_size: int = 8,
    atol: float = DEFAULT_ATOL,
) -> dict:
    """Export in `fmt` into `output_dir` and check parity on a batch of another size than the traced one."""
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r}; allowed: format={'|'.join(FORMATS)}")
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be >= 1")
    path = Path(output_dir) / FILE_NAMES[fmt]
    # Traced with 2 images and checked with `batch_size` (3 if that is 2 too), so a batch size baked into the
    # graph shows up as a failure here rather than in deployment.
    traced_with = example_batch(model_input, 2, seed=0)
    check_size = batch_size if batch_size != 2 else 3
    # Written beside the target and moved over it only once it passes the parity check: a kill mid-export or
    # a failed check leaves the previous model file (or none), never a half-written or unchecked one.
    with atomic_path(path) as tmp:
        if fmt == "onnx":
            export_onnx(net, tmp, traced_with, opset=opset)
        else:
            export_torchscript(net, tmp, traced_with)
        parity = check_parity(
            net, tmp, fmt, example_batch(model_input, check_size, seed=1), atol=atol, shown_as=path
        )
    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "opset": opset if fmt == "onnx" else None,
        **parity,
    }
