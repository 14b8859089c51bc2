"""Decoded-dataset cache: uint8 tensors saved once, keyed by the source files and the preprocessing settings."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from fer_lightning.data.arrays import LoadedDataset, Split


def fingerprint_files(root: Path) -> str:
    """Hash the relative path, size and modification time of every file under `root` (a file: its bytes)."""
    digest = hashlib.sha1()
    if root.is_file():
        digest.update(root.read_bytes())
        return digest.hexdigest()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # skip our own .cache
        for name in sorted(filenames):
            path = Path(dirpath, name)
            stat = path.stat()
            digest.update(f"{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_key(root: Path, settings: dict) -> str:
    """Key a decoded dataset by what is on disk and how it was decoded."""
    payload = json.dumps(
        {"root": str(root.resolve()), "files": fingerprint_files(root), **settings}, sort_keys=True
    )
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def save_cached(path: Path, data: LoadedDataset) -> None:
    """Write a decoded dataset atomically, so an interrupted write never leaves a corrupt cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "splits": {
            k: {"images": s.images, "labels": s.labels, "targets": s.targets} for k, s in data.splits.items()
        },
        "dropped": data.dropped,
        "source": data.source,
    }
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_cached(path: Path) -> LoadedDataset | None:
    """Read a cached dataset, or None when absent or unreadable (it is then rebuilt)."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        splits = {
            k: Split(v["images"], v["labels"], dict(v["targets"])) for k, v in payload["splits"].items()
        }
        return LoadedDataset(splits, dict(payload["dropped"]), payload["source"])
    except Exception:  # a stale or truncated cache is rebuilt rather than trusted
        return None
