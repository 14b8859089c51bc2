"""Shared pieces of the format readers: read options, bad-row bookkeeping, drop counts and split assembly."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fer_lightning.data.arrays import LoadedDataset, Split
from fer_lightning.errors import DataFormatError, MissingDataError
from fer_lightning.labels import CANONICAL_CLASSES

CONTEMPT = CANONICAL_CLASSES.index("contempt")
SPLIT_ORDER = ("train", "val", "test")


@dataclass(frozen=True)
class ReadOptions:
    """What every reader needs to know besides where the data is."""

    image_size: int
    channels: int
    on_bad_rows: str = "error"
    labels: str = "default"
    num_classes: int | None = None
    decode_workers: int | None = None  # processes decoding image files; None: every core
    sink: object | None = None  # the cache being built (data.cache.CacheBuilder): decoded chunks go to disk


def where(file: Path | str, line: int | None = None) -> str:
    """Format a location for an error message: 'FILE, line N' (or just FILE when there are no lines)."""
    return f"{file}, line {line}" if line is not None else f"{file}"


class BadRows:
    """Bad-row policy: 'error' raises on the first report, 'skip' records it and warns once per file at the end."""

    def __init__(self, on_bad_rows: str) -> None:
        self.mode = on_bad_rows
        self._skipped: dict[str, list[str]] = {}

    def report(self, file: Path | str, line: int | None, problem: str, *, missing: bool = False) -> None:
        """Raise (error mode) or remember (skip mode) one bad row or file."""
        self.report_message(file, f"{where(file, line)}: {problem}", missing=missing)

    def report_message(self, file: Path | str, message: str, *, missing: bool = False) -> None:
        """Like report(), for a message that already names its file (e.g. an image decoding error)."""
        if self.mode != "skip":
            hint = " (or set data.on_bad_rows=skip to skip bad rows with a warning)"
            raise (MissingDataError if missing else DataFormatError)(message + hint)
        self._skipped.setdefault(str(file), []).append(message)

    @property
    def count(self) -> int:
        """Number of rows or files skipped so far."""
        return sum(len(v) for v in self._skipped.values())

    def finish(self) -> Counter[str]:
        """Warn once per file about what was skipped; return the total as the drop count 'bad_rows'."""
        for file, messages in self._skipped.items():
            shown = "; ".join(messages[:3])
            more = f"; ... and {len(messages) - 3} more" if len(messages) > 3 else ""
            # stacklevel points past load_dataset so the warning names the caller's line.
            warnings.warn(f"{file}: skipped {len(messages)} bad row(s)/file(s): {shown}{more}", stacklevel=3)
        counts = Counter(bad_rows=self.count)
        self._skipped.clear()
        return counts


def small_int(text: str | bytes, limit: int = 10**9) -> int | None:
    """Parse ASCII digits (surrounding whitespace allowed) as an int <= limit; None for anything else."""
    s = text.strip()
    digits = s.decode("ascii", "replace") if isinstance(s, bytes) else s
    if not (digits.isascii() and digits.isdigit()):
        return None
    # Leading zeros are harmless; more significant digits than the limit allows means out of range anyway.
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(limit)):
        return None
    value = int(significant)
    return value if value <= limit else None


def contempt_mask(labels: np.ndarray, num_classes: int | None) -> np.ndarray:
    """Rows to keep given num_classes: 7 excludes contempt, 8 or None keeps every class."""
    if num_classes == 7:
        return labels != CONTEMPT
    return np.ones(len(labels), dtype=bool)


def make_split(images: np.ndarray, labels: np.ndarray, targets: dict[str, np.ndarray] | None = None) -> Split:
    """Wrap numpy arrays (uint8 [N,C,H,W], int labels, float targets) in a Split of tensors."""
    return Split(
        torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)),
        torch.from_numpy(np.asarray(labels, dtype=np.int64).copy()),
        {k: torch.from_numpy(np.asarray(v, dtype=np.float32).copy()) for k, v in (targets or {}).items()},
    )


def loaded(splits: dict[str, Split], drops: Counter[str], source: str) -> LoadedDataset:
    """What a reader returns: splits ordered train, val, test without empty ones, and its nonzero drop counts."""
    ordered = {name: splits[name] for name in SPLIT_ORDER if name in splits and len(splits[name]) > 0}
    return LoadedDataset(ordered, dict(+drops), source)  # unary + keeps the positive counts only


def first_existing(paths: Iterable[Path]) -> Path | None:
    """Return the first path that exists, or None."""
    return next((p for p in paths if p.exists()), None)
