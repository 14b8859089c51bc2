"""Containers that every format reader returns and the DataModule consumes: in memory, or gathered from a map."""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field

import torch


class Split:
    """One split: uint8 images [N, C, H, W] and canonical int64 labels [N] (plus optional float targets).

    In memory, `store` holds the split's own rows. Memory-mapped (`mapping` set), `store` is the whole on-disk
    cache and `rows` says which of its rows belong to this split, so subsets, folds and oversampling are index
    tensors and never copies; `gather(idx)` reads only the rows a batch needs.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        targets: dict[str, torch.Tensor] | None = None,
        *,
        rows: torch.Tensor | None = None,
        mapping: MappedRows | None = None,
    ) -> None:
        self.store, self.labels, self.targets = images, labels, dict(targets or {})
        self.rows, self.mapping = rows, mapping
        n = len(rows) if rows is not None else images.shape[0] if images.ndim == 4 else -1
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"Split.images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}"
            )
        if labels.dtype != torch.int64 or labels.shape != (n,):
            raise ValueError(f"Split.labels must be int64 [{n}], got {labels.dtype} {tuple(labels.shape)}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def mapped(self) -> bool:
        """Whether the images are read from a memory-mapped file rather than held in memory."""
        return self.mapping is not None

    @property
    def device(self) -> torch.device:
        """Where the image rows live (a mapped split is always on the CPU)."""
        return self.store.device

    @property
    def images(self) -> torch.Tensor:
        """All images of the split as one tensor (a mapped split copies them into memory: use gather())."""
        return self.store if self.rows is None else self.store[self.rows]

    def gather(self, index: torch.Tensor) -> torch.Tensor:
        """The images at positions `index` of this split (for a mapped split, only those rows are read)."""
        if self.mapping is None:
            return self.store[index]
        index = index.cpu()
        batch = self.store[self.rows[index] if self.rows is not None else index]
        self.mapping.touched(batch.numel())
        return batch

    def subset(self, index: torch.Tensor) -> Split:
        """Return the rows selected by an index tensor (targets included)."""
        targets = {k: v[index] for k, v in self.targets.items()}
        if self.mapping is None:
            return Split(self.store[index], self.labels[index], targets)
        rows = self.rows[index] if self.rows is not None else index
        return Split(self.store, self.labels[index], targets, rows=rows, mapping=self.mapping)

    def to(self, device: torch.device) -> Split:
        """Move an in-memory split to `device` (a mapped split stays where it is: it is read batch by batch)."""
        if self.mapped or self.store.device == device:
            return self
        return Split(self.store.to(device), self.labels.to(device), self.targets)


@dataclass
class LoadedDataset:
    """What a format reader found on disk: the splits present plus counts of rows it dropped, by reason."""

    splits: dict[str, Split]
    dropped: dict[str, int] = field(default_factory=dict)
    source: str = ""


class MappedRows:
    """A read-only memory map of a uint8 image file whose resident pages are handed back every `window` bytes.

    The pages a batch touches stay in the OS page cache (shared by every process mapping the file), but they
    are dropped from this process's resident set once `window` bytes have been gathered, so the resident
    memory of a run stays bounded whatever the file size.
    """

    def __init__(self, path, shape: tuple[int, ...], window_bytes: int = 256 << 20) -> None:
        import numpy as np

        with open(path, "rb") as f:
            # ACCESS_COPY: a stray in-place write changes this process's copy, never the shared cache file.
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        count = int(np.prod(shape))
        self.tensor = torch.from_numpy(np.frombuffer(self._map, dtype=np.uint8, count=count)).view(shape)
        self.window_bytes = int(window_bytes)
        self._since_release = 0
        if hasattr(mmap, "MADV_RANDOM"):
            self._map.madvise(mmap.MADV_RANDOM)  # batches are random rows: read-ahead would only waste memory

    def touched(self, nbytes: int) -> None:
        """Count bytes gathered; past the window, drop the map's resident pages (they stay in the page cache)."""
        self._since_release += int(nbytes)
        if self._since_release >= self.window_bytes:
            self.release()

    def release(self) -> None:
        """Drop every resident page of the map from this process (re-read from the page cache on next use)."""
        self._since_release = 0
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)
