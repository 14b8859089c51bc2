"""A batch iterator over in-memory or memory-mapped tensors: no per-sample collation, no worker processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from fer_lightning.data.arrays import Split


def epoch_seed(seed: int, epoch: int, salt: int = 0) -> int:
    """Derive the seed of one epoch from the run seed, so a resumed run replays the same epoch exactly."""
    # Large odd multipliers keep nearby (seed, epoch) pairs far apart in seed space.
    return (seed * 1_000_003 + epoch * 7_919 + salt * 104_729) % (2**63 - 1)


class TensorBatchLoader:
    """Yields `(images_uint8, labels, batch_seed)` batches by indexing whole tensors.

    Shuffling, weighted sampling and per-rank sharding draw from a generator seeded by
    (seed, epoch), so the order of an epoch does not depend on what ran before it. `batch_size` is positive:
    the DataModule, which owns `data.batch_size`, checks it.
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        *,
        shuffle: bool,
        drop_last: bool = False,
        seed: int = 0,
        epoch_fn: Callable[[], int] = lambda: 0,
        sample_weights: torch.Tensor | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.split = split
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.epoch_fn = epoch_fn
        self.sample_weights = sample_weights
        self.rank = rank
        self.world_size = world_size

    def _num_samples(self) -> int:
        n = len(self.split)
        if self.shuffle:
            # Training shards are equal-sized so every rank runs the same number of steps.
            return n // self.world_size
        return len(range(self.rank, n, self.world_size))

    def __len__(self) -> int:
        n = self._num_samples()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self, epoch: int) -> torch.Tensor:
        n = len(self.split)
        if not self.shuffle:
            return torch.arange(self.rank, n, self.world_size)
        gen = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        if self.sample_weights is not None:
            order = torch.multinomial(self.sample_weights, n, replacement=True, generator=gen)
        else:
            order = torch.randperm(n, generator=gen)
        per_rank = n // self.world_size
        return order[self.rank * per_rank : (self.rank + 1) * per_rank]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        epoch = int(self.epoch_fn())
        order = self._order(epoch).to(self.split.device)
        labels = self.split.labels.to(self.split.device)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            batch_seed = epoch_seed(self.seed, epoch, salt=b * self.world_size + self.rank + 1)
            # A memory-mapped split reads only these rows from the page cache; Lightning then moves the batch.
            yield self.split.gather(idx), labels[idx], batch_seed
