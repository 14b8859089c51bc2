"""In-memory containers that every format reader returns and the DataModule consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Split:
    """One split held in memory: uint8 images [N, C, H, W] and canonical int64 labels [N]."""

    images: torch.Tensor
    labels: torch.Tensor
    targets: dict[str, torch.Tensor] = field(
        default_factory=dict
    )  # optional regression targets, e.g. valence

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"Split.images must be uint8 [N, C, H, W], got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"Split.labels must be int64 [{self.images.shape[0]}], got {self.labels.dtype} {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor) -> Split:
        """Return the rows selected by an index tensor (targets included)."""
        return Split(self.images[index], self.labels[index], {k: v[index] for k, v in self.targets.items()})


@dataclass
class LoadedDataset:
    """What a format reader found on disk: the splits present plus counts of rows it dropped, by reason."""

    splits: dict[str, Split]
    dropped: dict[str, int] = field(default_factory=dict)
    source: str = ""
