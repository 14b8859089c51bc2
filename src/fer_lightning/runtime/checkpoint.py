"""Reading checkpoints a user points to, and saying plainly when one does not fit the network it is loaded into."""

from __future__ import annotations

from pathlib import Path

import torch

from fer_lightning.errors import ConfigError

TRAIN_CKPT_HINT = (
    "give a .ckpt written by fer_lightning.train (e.g. outputs/runs/<run>/checkpoints/last.ckpt)"
)


def read_checkpoint(path: str | Path, key: str, *, lightning: bool = True, map_location: str = "cpu") -> dict:
    """Load `path` (on the CPU by default); a missing, empty, truncated or foreign file is a ConfigError naming `key`."""
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise ConfigError(f"{key}={path}: no such checkpoint file; {TRAIN_CKPT_HINT}")
    if path.stat().st_size == 0:
        raise ConfigError(
            f"{key}={path}: the file is empty (cut off while being written?); {TRAIN_CKPT_HINT}"
        )
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for a bad file
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ConfigError(
            f"{key}={path}: not a readable PyTorch checkpoint ({reason}); the file may be truncated or of "
            f"another kind; {TRAIN_CKPT_HINT}"
        ) from None
    if not isinstance(ckpt, dict) or (lightning and "state_dict" not in ckpt):
        raise ConfigError(f"{key}={path}: a PyTorch file, but not a Lightning checkpoint; {TRAIN_CKPT_HINT}")
    return ckpt


def tensor_match(source: dict, target: dict) -> tuple[list[str], list[str], list[str]]:
    """The target's tensors that the source holds with the same shape, with another shape, and not at all."""
    same = [k for k in target if k in source and tuple(source[k].shape) == tuple(target[k].shape)]
    reshaped = [k for k in target if k in source and tuple(source[k].shape) != tuple(target[k].shape)]
    absent = [k for k in target if k not in source]
    return same, reshaped, absent


def describe_mismatch(same: list[str], reshaped: list[str], absent: list[str]) -> str:
    """`N of M tensors match (A absent, R of another shape, e.g. ...)` for an error message."""
    total = len(same) + len(reshaped) + len(absent)
    examples = ", ".join((reshaped + absent)[:3])
    return (
        f"{len(same)} of {total} tensors match ({len(absent)} absent, {len(reshaped)} of another shape, "
        f"e.g. {examples})"
    )


def check_resume_checkpoint(ckpt: dict, module: torch.nn.Module, ckpt_path: str, model_name: str) -> None:
    """A resumed run needs the checkpoint of the very same network: every tensor present, every shape equal."""
    source = {k: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    target = {k: v for k, v in module.state_dict().items() if k.startswith("net.")}
    same, reshaped, absent = tensor_match(source, target)
    extra = [k for k in source if k not in target]
    if reshaped or absent or extra:
        raise ConfigError(
            f"ckpt_path={ckpt_path} is not a checkpoint of this run's network (model={model_name}): "
            f"{describe_mismatch(same, reshaped, absent)}. Resume with the run's own checkpoint; to start "
            "another network from its weights use init_from=<it> (init_from_strict=false to load what fits)."
        )
