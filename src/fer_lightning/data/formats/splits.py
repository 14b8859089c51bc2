"""Seeded, stratified index splits: a validation carve-out and k-fold cross-validation."""

from __future__ import annotations

import numpy as np
import torch

from fer_lightning.errors import ConfigError


def _labels_array(labels: torch.Tensor | np.ndarray | list[int]) -> np.ndarray:
    arr = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {arr.shape}")
    return arr.astype(np.int64, copy=False)


def _shuffled_classes(labels: np.ndarray, seed: int) -> list[np.ndarray]:
    # One generator walked in class order: the result depends only on (labels, seed), on every platform.
    rng = np.random.default_rng(seed)
    return [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]


def _as_tensors(train: np.ndarray, val: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(np.sort(train).astype(np.int64)), torch.from_numpy(np.sort(val).astype(np.int64))


def stratified_split(
    labels: torch.Tensor | np.ndarray | list[int], fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split row indices into (train_idx, val_idx) with `fraction` of each class in val, seeded.

    Per-class quotas use largest remainders so the val size is round(fraction * N); a class with at least two
    rows always keeps one in train. Both index tensors are sorted int64.
    """
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"data.val_fraction={fraction!r} must be in [0, 1)")
    arr = _labels_array(labels)
    groups = _shuffled_classes(arr, seed)
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    exact = sizes * fraction
    quota = np.floor(exact).astype(np.int64)
    remaining = int(round(fraction * len(arr))) - int(quota.sum())
    # Largest fractional parts first; stable sort breaks ties by class order, keeping it deterministic.
    for c in np.argsort(-(exact - quota), kind="stable")[: max(0, remaining)]:
        quota[c] += 1
    quota = np.minimum(quota, np.maximum(sizes - 1, 0))
    val = [g[:q] for g, q in zip(groups, quota, strict=True)]
    train = [g[q:] for g, q in zip(groups, quota, strict=True)]
    empty = np.zeros(0, dtype=np.int64)
    return _as_tensors(np.concatenate(train or [empty]), np.concatenate(val or [empty]))


def stratified_kfold(
    labels: torch.Tensor | np.ndarray | list[int], num_folds: int, fold: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (train_idx, val_idx) for fold `fold` of a seeded, stratified `num_folds`-fold partition.

    Rows are dealt to folds round-robin over the per-class shuffled order, so every class is spread evenly and
    fold sizes differ by at most one; the val parts of all folds partition the rows exactly.
    """
    if not isinstance(num_folds, int | np.integer) or num_folds < 2:
        raise ConfigError(f"data.num_folds={num_folds!r} must be an integer >= 2")
    if not isinstance(fold, int | np.integer) or not 0 <= fold < num_folds:
        raise ConfigError(f"data.fold={fold!r} must be an integer in 0..{num_folds - 1}")
    arr = _labels_array(labels)
    groups = _shuffled_classes(arr, seed)
    order = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
    assigned = np.arange(len(order)) % num_folds
    return _as_tensors(order[assigned != fold], order[assigned == fold])
