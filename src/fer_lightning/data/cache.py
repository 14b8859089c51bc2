"""Decoded-dataset cache on disk: one raw uint8 image file per dataset, held in memory or memory-mapped.

A cache is a folder `<name>-<key>/` holding `images.u8` (every split's images, row after row) and `meta.pt`
(labels, targets, which rows each split owns, drop counts). It is built in `<name>-<key>.partial/` under an
exclusive file lock and renamed into place only when complete, so a reader never sees a half-written cache;
the builder records each decoded chunk in `progress.json`, so a killed build resumes where it stopped, and a
second process asking for the same cache waits for the first and then reads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from fer_lightning.data.arrays import LoadedDataset, MappedRows, Split
from fer_lightning.errors import ConfigError

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
IMAGES_FILE, META_FILE, PROGRESS_FILE = "images.u8", "meta.pt", "progress.json"
IN_MEMORY_MODES = ("auto", "always", "never")
# Label lists and tables: their bytes are hashed into the key. Every other file (images, AffectNet's ~860k
# per-image .npy annotations) is keyed by its stat (size, mtime, ctime, inode) instead: reading ~300k images on
# every start would take minutes, and any in-place write changes ctime, which no tool can set back (unlike mtime).
_CONTENT_HASHED = (".csv", ".txt", ".tsv", ".json", ".gz")


def _hash_file(digest, path: Path) -> None:
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)


def fingerprint_files(root: Path) -> str:
    """Hash what is under `root`: the bytes of every label list and table, the stat of every other file."""
    digest = hashlib.sha1()  # the fastest hashlib digest on this project's machines (~520 MB/s a core)
    if root.is_file():
        _hash_file(digest, root)
        return digest.hexdigest()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # skip our own .cache
        for name in sorted(filenames):
            path = Path(dirpath, name)
            stat = path.stat()
            digest.update(f"{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}|".encode())
            if path.suffix.lower() in _CONTENT_HASHED:
                _hash_file(digest, path)
            else:
                digest.update(f"{stat.st_ctime_ns}|{stat.st_ino}\n".encode())
    return digest.hexdigest()


def cache_key(root: Path, settings: dict) -> str:
    """Key a decoded dataset by what is on disk and how it was decoded."""
    payload = json.dumps(
        {"root": str(root.resolve()), "files": fingerprint_files(root), "format": FORMAT_VERSION, **settings},
        sort_keys=True,
    )
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def parse_in_memory(value: object) -> str:
    """Normalise data.in_memory: auto, true (always held in memory) or false (always mapped); always/never too."""
    text = {"true": "always", "false": "never"}.get(str(value).lower(), str(value).lower())
    if text not in IN_MEMORY_MODES:
        raise ConfigError(
            f"data.in_memory={value!r}; allowed: auto, true (hold in memory), false (memory-map)"
        )
    return text


def holds_in_memory(mode: str, nbytes: int, max_mb: float) -> bool:
    """Whether a cache of `nbytes` is read into memory (else memory-mapped) under data.in_memory=`mode`."""
    return mode == "always" or (mode == "auto" and nbytes <= max_mb * (1 << 20))


def cache_bytes(path: Path) -> int:
    """Size on disk of a finished cache folder (0 when there is none)."""
    return sum(f.stat().st_size for f in path.iterdir()) if path.is_dir() else 0


def open_cache(path: Path, *, in_memory: str = "auto", max_mb: float = 2048) -> LoadedDataset | None:
    """Open a finished cache, in memory or memory-mapped as data.in_memory says; None when absent or damaged."""
    images_file = path / IMAGES_FILE
    try:
        meta = torch.load(path / META_FILE, map_location="cpu", weights_only=True)
        shape = tuple(meta["shape"])
        rows = int(meta["rows"])
        if meta["version"] != FORMAT_VERSION or images_file.stat().st_size != rows * int(np.prod(shape)):
            return None
    except Exception:  # absent, truncated or from another version: rebuilt rather than trusted
        return None
    if holds_in_memory(in_memory, images_file.stat().st_size, max_mb):
        store = torch.from_numpy(np.fromfile(images_file, dtype=np.uint8)).view(rows, *shape)
        mapping = None
    else:
        mapping = MappedRows(images_file, (rows, *shape))
        store = mapping.tensor
    splits = {}
    for name, entry in meta["splits"].items():
        start, n = int(entry["start"]), int(entry["n"])
        targets = dict(entry["targets"])
        if mapping is None:
            splits[name] = Split(store[start : start + n], entry["labels"], targets)
        else:
            rows_index = torch.arange(start, start + n)
            splits[name] = Split(store, entry["labels"], targets, rows=rows_index, mapping=mapping)
    return LoadedDataset(splits, dict(meta["dropped"]), meta["source"])


def load_or_build(
    path: Path,
    build: Callable[[CacheBuilder | None], LoadedDataset],
    *,
    in_memory: str = "auto",
    max_mb: float = 2048,
) -> tuple[LoadedDataset, str]:
    """Open the cache at `path`, or build it with `build(builder)` first; returns (dataset, how).

    `how` is 'read' (an earlier run built it), 'built' (this call did) or 'uncached'.

    Only one process builds a cache: the others wait on its lock and then open what it wrote. When the cache
    folder cannot be written, the dataset is built in memory and a warning says so ('uncached').
    """
    opened = open_cache(path, in_memory=in_memory, max_mb=max_mb)
    if opened is not None:
        return opened, "read"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = _exclusive_lock(path.with_name(path.name + ".lock"))
        lock.__enter__()
    except OSError as err:
        log.warning("could not write the dataset cache %s: %s; decoding into memory", path, err)
        return build(None), "uncached"
    try:
        opened = open_cache(path, in_memory=in_memory, max_mb=max_mb)  # another process may have built it
        if opened is not None:
            return opened, "read"
        builder = CacheBuilder(path)
        builder.finish(build(builder))
    finally:
        lock.__exit__(None, None, None)
    opened = open_cache(path, in_memory=in_memory, max_mb=max_mb)
    if opened is None:
        raise OSError(f"the dataset cache {path} was written but cannot be read back")
    return opened, "built"


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    import fcntl

    with open(lock_path, "a+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another process is building the dataset cache %s; waiting for it", lock_path.stem)
            fcntl.flock(f, fcntl.LOCK_EX)  # released by the kernel if that process dies
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class CacheBuilder:
    """The cache being built: hands format readers on-disk parts to decode into and records their progress."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.partial.mkdir(exist_ok=True)
        self.images_file = self.partial / IMAGES_FILE
        self.images_file.touch()
        self._progress = self._read_progress()
        self._parts: list[_Part] = []

    def _read_progress(self) -> dict:
        try:
            progress = json.loads((self.partial / PROGRESS_FILE).read_text())
            if progress.get("version") == FORMAT_VERSION:
                if progress["parts"]:
                    log.info("resuming the interrupted dataset cache build in %s", self.partial)
                return progress
        except (OSError, ValueError, KeyError):
            pass
        return {"version": FORMAT_VERSION, "parts": []}

    def save_progress(self) -> None:
        """Record what is decoded, after the pixels it names are on disk."""
        with open(self.images_file, "rb+") as f:
            os.fsync(f.fileno())
        tmp = self.partial / (PROGRESS_FILE + ".tmp")
        tmp.write_text(json.dumps(self._progress))
        tmp.replace(self.partial / PROGRESS_FILE)

    def part(self, n: int, shape: tuple[int, int, int]) -> _Part:
        """The next region of the images file, for `n` images of `shape` (resumed when a killed build had it)."""
        k = len(self._parts)
        entries = self._progress["parts"]
        entry = entries[k] if k < len(entries) else None
        if entry is None or entry["n"] != n or entry["shape"] != list(shape) or entry.get("compacting"):
            # Readers ask for parts in a fixed order, so a mismatch means everything from here on is stale.
            del entries[k:]
            offset = entries[-1]["offset"] + entries[-1]["kept"] if entries else 0
            entry = {"n": n, "shape": list(shape), "offset": offset, "done": [], "failures": {}, "kept": None}
            entries.append(entry)
        part = _Part(self, entry)
        self._parts.append(part)
        return part

    def finish(self, data: LoadedDataset) -> None:
        """Write labels and split layout next to the images, then move the folder into place atomically."""
        splits, shape, end = {}, None, 0
        for p in self._parts:
            shape = shape or tuple(p.entry["shape"])
            end = max(end, p.entry["offset"] + (p.entry["kept"] or 0))
        with open(self.images_file, "r+b") as f:
            f.truncate(end * int(np.prod(shape)) if shape else 0)
            for name, split in data.splits.items():
                images = split.images
                shape = shape or tuple(images.shape[1:])
                if tuple(images.shape[1:]) != shape:
                    raise ValueError(f"split {name} has images {tuple(images.shape[1:])}, others {shape}")
                start = self._locate(images)
                if start is None:  # decoded in memory (e.g. FER2013's CSV pixels): appended here
                    start = end
                    f.seek(end * int(np.prod(shape)))
                    f.write(images.cpu().contiguous().numpy().tobytes())
                    end += len(images)
                splits[name] = {
                    "start": start,
                    "n": len(images),
                    "labels": split.labels,
                    "targets": split.targets,
                }
            f.flush()
            os.fsync(f.fileno())
        meta = {
            "version": FORMAT_VERSION,
            "shape": list(shape or (1, 1, 1)),
            "rows": end,
            "splits": splits,
            "dropped": data.dropped,
            "source": data.source,
        }
        torch.save(meta, self.partial / META_FILE)
        (self.partial / PROGRESS_FILE).unlink(missing_ok=True)
        if self.path.exists():
            shutil.rmtree(self.path)  # a damaged or outdated finished cache, already refused by open_cache
        self.partial.rename(self.path)

    def _locate(self, images: torch.Tensor) -> int | None:
        ptr = images.data_ptr()
        for p in self._parts:
            if (
                p.array is not None
                and p.array.size
                and p.array.ctypes.data <= ptr < p.array.ctypes.data + p.array.nbytes
            ):
                return p.entry["offset"] + (ptr - p.array.ctypes.data) // int(np.prod(images.shape[1:]))
        return None


class _Part:
    """One reader call's images in the file: chunks written as they decode, then failed rows squeezed out."""

    def __init__(self, builder: CacheBuilder, entry: dict) -> None:
        self.builder, self.entry = builder, entry
        self.row_bytes = int(np.prod(entry["shape"]))
        self.done = set(entry["done"])
        self.array: np.ndarray | None = None

    @property
    def complete(self) -> bool:
        """Whether a killed build had already finished this part."""
        return self.entry["kept"] is not None

    @property
    def failures(self) -> dict[int, str]:
        """Unreadable images of this part so far, by row."""
        return {int(k): v for k, v in self.entry["failures"].items()}

    def is_done(self, start: int) -> bool:
        """Whether the chunk starting at row `start` is already on disk."""
        return start in self.done

    def write(self, start: int, images: np.ndarray, failures: dict[int, str]) -> None:
        """Write one decoded chunk at its rows and record it as done."""
        with open(self.builder.images_file, "r+b") as f:
            f.seek((self.entry["offset"] + start) * self.row_bytes)
            f.write(np.ascontiguousarray(images).tobytes())
        self.done.add(start)
        self.entry["done"] = sorted(self.done)
        self.entry["failures"].update({str(k): v for k, v in failures.items()})
        self.builder.save_progress()

    def finish_decode(self, failures: dict[int, str]) -> np.ndarray:
        """Squeeze the failed rows out in place (once) and return the kept images, mapped from the file."""
        if self.entry["kept"] is None:
            n = self.entry["n"]
            if failures:
                self.entry["compacting"] = True  # a build killed while rows move redoes this part
                self.builder.save_progress()
                keep = [i for i in range(n) if i not in failures]
                view = self._map(n)
                for j, i in enumerate(keep):
                    if i != j:
                        view[j] = view[i]
                view.flush()
                del view
            self.entry["kept"] = n - len(failures)
            self.entry.pop("compacting", None)
            self.builder.save_progress()
        return self.images()

    def images(self) -> np.ndarray:
        """The kept images of a finished part, read through a map of the file."""
        kept = int(self.entry["kept"])
        self.array = self._map(kept) if kept else np.zeros((0, *self.entry["shape"]), dtype=np.uint8)
        return self.array

    def _map(self, n: int) -> np.ndarray:
        with open(self.builder.images_file, "r+b") as f:
            needed = (self.entry["offset"] + n) * self.row_bytes
            if os.fstat(f.fileno()).st_size < needed:
                f.truncate(needed)
        return np.memmap(
            self.builder.images_file,
            dtype=np.uint8,
            mode="r+",
            offset=self.entry["offset"] * self.row_bytes,
            shape=(n, *self.entry["shape"]),
        )
