"""LightningDataModules over uint8 image tensors (held in memory, or memory-mapped from the decoded cache when it
is large) that batch by index and augment batches on the device."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch

from fer_lightning.augment import Augment
from fer_lightning.config_checks import (
    check_channels,
    check_choice,
    check_image_size,
    check_num_classes,
    check_positive,
)
from fer_lightning.data.arrays import LoadedDataset, Split
from fer_lightning.data.cache import cache_bytes, cache_key, load_or_build, parse_in_memory
from fer_lightning.data.loader import TensorBatchLoader
from fer_lightning.data.preprocess import Normalisation, to_unit
from fer_lightning.errors import ConfigError, DataFormatError
from fer_lightning.labels import class_names

log = logging.getLogger(__name__)

BALANCE_MODES = ("none", "oversample", "sampler", "class_weights")
# Where validation comes from: the layout's own validation split, or a stratified carve-out of train (the
# layout's validation split then becomes the test split, e.g. FER2013's PublicTest when PrivateTest is absent).
VAL_SOURCES = ("layout", "carve")
SPLITS = ("train", "val", "test")


class InMemoryDataModule(pl.LightningDataModule):
    """Base DataModule: subclasses load a `LoadedDataset`; this class splits, balances, batches and augments."""

    def __init__(
        self,
        *,
        image_size: int = 48,
        channels: int = 1,
        num_classes: int = 7,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.1,
        val_source: str = "layout",
        num_folds: int | None = None,
        fold: int = 0,
        drop_blank: bool = False,
        balance: str = "none",
        mean: Sequence[float] = (0.5,),
        std: Sequence[float] = (0.5,),
        augment: Augment | None = None,
        seed: int = 42,
        channels_last: bool = False,
        data_on_device: bool = True,
        in_memory: str | bool = "auto",
        in_memory_max_mb: float = 2048,
    ) -> None:
        super().__init__()
        check_positive("data.batch_size", batch_size)
        check_image_size(image_size)
        check_channels(channels)
        check_num_classes(num_classes)
        check_choice(balance, BALANCE_MODES, "data.balance")
        check_choice(val_source, VAL_SOURCES, "data.val_source")
        if not 0.0 < val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction={val_fraction} must be in (0, 1)")
        if num_folds is not None and not (num_folds >= 2 and 0 <= fold < num_folds):
            raise ConfigError(
                f"data.num_folds={num_folds} data.fold={fold}: need num_folds >= 2 and 0 <= fold < num_folds"
            )
        self.normalisation = Normalisation(mean, std, channels)
        check_positive("data.in_memory_max_mb", in_memory_max_mb)
        self.image_size = int(image_size)
        self.channels = int(channels)
        self.num_classes = int(num_classes)
        self.class_names = class_names(self.num_classes)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or max(batch_size, 256))
        self.val_fraction = float(val_fraction)
        self.val_source = val_source
        self.num_folds = num_folds
        self.fold = int(fold)
        self.drop_blank = bool(drop_blank)
        self.balance = balance
        self.mean, self.std = self.normalisation.mean, self.normalisation.std  # [1, C, 1, 1], for notebooks
        self.augment = augment
        self.seed = int(seed)
        self.channels_last = bool(channels_last)
        self.data_on_device = bool(data_on_device)
        # Cached datasets up to in_memory_max_mb are read into memory; larger ones are memory-mapped.
        self.in_memory = parse_in_memory(in_memory)
        self.in_memory_max_mb = float(in_memory_max_mb)
        self.splits: dict[str, Split] = {}
        self.dropped: dict[str, int] = {}
        self.source = ""
        self.cache_path: Path | None = None
        self.cache_status = "uncached"  # or 'read' / 'built': what load() did with the decoded cache
        self._sample_weights: torch.Tensor | None = None
        self.class_weights: torch.Tensor | None = None

    # -- loading -----------------------------------------------------------------------------------------

    def load(self) -> LoadedDataset:
        """Read the splits present in the source (implemented by each dataset)."""
        raise NotImplementedError

    @property
    def has_test(self) -> bool:
        """Whether the source has a labelled test split."""
        self.setup()
        return "test" in self.splits

    def setup(self, stage: str | None = None) -> None:
        """Load once, then carve validation/folds, drop blanks and balance the training split."""
        if self.splits:
            return
        data = self.load()
        splits = dict(data.splits)
        dropped = dict(data.dropped)
        if "train" not in splits or len(splits["train"]) == 0:
            raise DataFormatError(f"{data.source or type(self).__name__}: no training rows were found")
        if self.drop_blank:
            for name, split in splits.items():
                keep = _row_max(split) > 0
                if int((~keep).sum()):
                    dropped[f"blank_{name}"] = int((~keep).sum())
                    splits[name] = split.subset(keep.nonzero().squeeze(1))
        if self.val_source == "carve" and "val" in splits:
            # Checkpoints are then chosen on a carve-out of train, never on the split that is reported.
            if "test" in splits:
                dropped["unused_layout_val"] = len(splits.pop("val"))
                log.warning(
                    "data.val_source=carve: %s has its own test split, so its validation split (%d rows) is unused",
                    data.source,
                    dropped["unused_layout_val"],
                )
            else:
                splits["test"] = splits.pop("val")
        splits = self._carve_validation(splits)
        if self.balance == "oversample":
            splits["train"] = _oversample(splits["train"], self.num_classes, self.seed)
        elif self.balance == "sampler":
            counts = torch.bincount(splits["train"].labels, minlength=self.num_classes).clamp(min=1)
            self._sample_weights = (1.0 / counts.double())[splits["train"].labels]
        elif self.balance == "class_weights":
            counts = torch.bincount(splits["train"].labels, minlength=self.num_classes).float()
            weights = counts.sum() / (self.num_classes * counts.clamp(min=1))
            self.class_weights = torch.where(counts > 0, weights, torch.zeros_like(weights))
        for name, split in splits.items():
            if int(split.labels.max()) >= self.num_classes:
                raise ConfigError(
                    f"{data.source}: the {name} split has labels up to {int(split.labels.max())} but "
                    f"data.num_classes={self.num_classes}; set data.num_classes=8 to keep contempt"
                )
        self.splits, self.dropped, self.source = splits, dropped, data.source

    def _carve_validation(self, splits: dict[str, Split]) -> dict[str, Split]:
        # Imported here: the format readers are only needed when a validation split has to be made.
        from fer_lightning.data.formats.splits import stratified_kfold, stratified_split

        if self.num_folds is not None:
            pool = splits["train"] if "val" not in splits else _concat(splits["train"], splits["val"])
            train_idx, val_idx = stratified_kfold(pool.labels, self.num_folds, self.fold, self.seed)
            splits["train"], splits["val"] = pool.subset(train_idx), pool.subset(val_idx)
        elif "val" not in splits:
            train_idx, val_idx = stratified_split(splits["train"].labels, self.val_fraction, self.seed)
            train = splits["train"]
            splits["train"], splits["val"] = train.subset(train_idx), train.subset(val_idx)
        return splits

    def summary(self) -> dict:
        """Per-split sample counts and per-class counts in the canonical label space, plus drops and cache."""
        self.setup()
        out = {"splits": {}, "dropped": dict(self.dropped), "source": self.source}
        for name in SPLITS:
            if name in self.splits:
                counts = torch.bincount(self.splits[name].labels, minlength=self.num_classes).tolist()
                out["splits"][name] = {
                    "n": len(self.splits[name]),
                    "per_class": dict(zip(self.class_names, counts, strict=True)),
                }
        out["cache"] = str(self.cache_path) if self.cache_path else None
        if self.cache_path is not None:
            out["cache_bytes"] = cache_bytes(self.cache_path)
            out["cache_mode"] = "mapped" if any(s.mapped for s in self.splits.values()) else "memory"
        return out

    def _cached(self, path: Path, build) -> LoadedDataset:
        """Open the decoded cache at `path` (building it first if needed), held in memory or mapped by size."""
        data, self.cache_status = load_or_build(
            path, build, in_memory=self.in_memory, max_mb=self.in_memory_max_mb
        )
        self.cache_path = path if self.cache_status != "uncached" else None
        return data

    # -- batches -----------------------------------------------------------------------------------------

    def _device(self) -> torch.device:
        trainer = self.trainer
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def _loader(self, name: str, train: bool) -> TensorBatchLoader:
        self.setup()
        if name not in self.splits:
            raise DataFormatError(
                f"{self.source}: there is no labelled {name} split (the source has: {', '.join(self.splits)})"
            )
        split = self.splits[name]
        device = self._device()
        # Small datasets live on the GPU itself, so a batch is an index, not a host-to-device copy; mapped ones
        # stay on disk and each batch is gathered from the map and moved.
        if self.data_on_device and device.type == "cuda" and not split.mapped:
            split = self.splits[name] = split.to(device)
        trainer = self.trainer
        return TensorBatchLoader(
            split,
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            drop_last=False,
            seed=self.seed,
            epoch_fn=(lambda: trainer.current_epoch) if trainer is not None else (lambda: 0),
            sample_weights=self._sample_weights if train else None,
            rank=trainer.global_rank if trainer is not None else 0,
            world_size=trainer.world_size if trainer is not None else 1,
        )

    def train_dataloader(self) -> TensorBatchLoader:
        """Shuffled training batches (weighted when data.balance=sampler)."""
        return self._loader("train", train=True)

    def val_dataloader(self) -> TensorBatchLoader:
        """Validation batches in a fixed order."""
        return self._loader("val", train=False)

    def test_dataloader(self) -> TensorBatchLoader:
        """Test batches; an error that says so when the source has no labelled test split."""
        return self._loader("test", train=False)

    def predict_dataloader(self) -> TensorBatchLoader:
        """Test batches for prediction (falls back to validation)."""
        return self._loader("test" if "test" in self.splits else "val", train=False)

    def model_inputs(self, split: str, limit: int | None = None) -> Iterator[torch.Tensor]:
        """A split's images as the model sees them, unaugmented, in a fixed order, on the trainer's device; the
        first `limit` images only when given."""
        seen, device = 0, self._device()
        for images, _, _ in self._loader(split, train=False):
            if limit is not None:
                if seen >= limit:
                    return
                images = images[: limit - seen]
            seen += len(images)
            yield self.to_model_input(images.to(device))

    def to_model_input(self, images: torch.Tensor) -> torch.Tensor:
        """Turn a uint8 batch into the normalised float batch a model sees (no augmentation)."""
        x = self.normalisation.model_input(images)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Augment (training only) and normalise a batch on the device it will be used on."""
        images, labels, batch_seed = batch
        x = to_unit(images)
        training = self.trainer is not None and self.trainer.training
        generator = None
        targets = (labels,)
        if training and self.augment is not None:
            generator = torch.Generator(device=x.device).manual_seed(int(batch_seed))
            x = self.augment(x, generator=generator)
            if self.augment.mix.enabled:  # mixed batches carry (own labels, partner labels, own share)
                x, *targets = self.augment.mix(x, labels, generator=generator)
        x = self.normalisation(x)
        if generator is not None:
            x = self.augment.add_noise(x, generator=generator)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return (x, *targets)


class SyntheticDataModule(InMemoryDataModule):
    """Procedurally drawn 48x48 faces in the FER2013 classes: no files, deterministic for a seed."""

    def __init__(
        self,
        *,
        n_train: int = 6000,
        n_val: int = 1000,
        n_test: int = 1000,
        cache_dir: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        for key, n in (("data.n_train", n_train), ("data.n_val", n_val), ("data.n_test", n_test)):
            check_positive(key, n)
        self.n_train, self.n_val, self.n_test = int(n_train), int(n_val), int(n_test)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None

    def load(self) -> LoadedDataset:
        """Render the three splits from seeds derived from data.seed (or read them from the cache)."""
        from fer_lightning.data import synthetic

        settings = {
            "n": [self.n_train, self.n_val, self.n_test],
            "seed": self.seed,
            "image_size": self.image_size,
            "channels": self.channels,
            "num_classes": self.num_classes,
        }
        kw = {"image_size": self.image_size, "channels": self.channels, "num_classes": self.num_classes}

        def render(_builder=None) -> LoadedDataset:
            splits = {
                name: synthetic.make_synthetic_split(n, seed=self.seed * 10 + i, **kw)
                for i, (name, n) in enumerate(
                    (("train", self.n_train), ("val", self.n_val), ("test", self.n_test))
                )
            }
            return LoadedDataset(splits, {}, f"synthetic faces (seed {self.seed})")

        if self.cache_dir is None:
            return render()
        # The generator's own source is part of the key: editing the drawing code invalidates old faces.
        return self._cached(
            self.cache_dir / f"synthetic-{cache_key(Path(synthetic.__file__), settings)}", render
        )


class FERDataModule(InMemoryDataModule):
    """A real dataset (fer2013, rafdb, affectnet) read from its on-disk layout, decoded once into a cache."""

    def __init__(
        self,
        *,
        dataset: str,
        root: str,
        format: str = "auto",
        labels: str = "default",
        on_bad_rows: str = "error",
        cache_dir: str | None = None,
        decode_workers: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if decode_workers is not None:
            check_positive("data.decode_workers", decode_workers)
        if self.in_memory == "never" and not cache_dir:
            raise ConfigError(
                "data.in_memory=never maps the decoded cache, so it needs data.cache_dir (got null)"
            )
        self.decode_workers = decode_workers
        self.dataset = dataset
        self.root = Path(root).expanduser()
        self.format = format
        self.labels = labels
        self.on_bad_rows = on_bad_rows
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None

    def load(self) -> LoadedDataset:
        """Decode the source (or read the cache made by an earlier run with the same files and settings)."""
        from fer_lightning.data.formats import load_dataset

        settings = {
            "dataset": self.dataset,
            "format": self.format,
            "labels": self.labels,
            "image_size": self.image_size,
            "channels": self.channels,
            "num_classes": self.num_classes,
            "on_bad_rows": self.on_bad_rows,
            "version": 1,
        }

        def decode(builder=None) -> LoadedDataset:
            return load_dataset(
                self.dataset,
                self.root,
                format=self.format,
                image_size=self.image_size,
                channels=self.channels,
                on_bad_rows=self.on_bad_rows,
                labels=self.labels,
                num_classes=self.num_classes,
                decode_workers=self.decode_workers,
                sink=builder,
            )

        if self.cache_dir is None or not self.root.exists():
            return decode()
        return self._cached(self.cache_dir / f"{self.dataset}-{cache_key(self.root, settings)}", decode)


def _concat(a: Split, b: Split) -> Split:
    targets = {k: torch.cat([a.targets[k], b.targets[k]]) for k in a.targets if k in b.targets}
    labels = torch.cat([a.labels, b.labels])
    if a.mapped and a.mapping is b.mapping:  # two splits of one mapped cache: join their row indices
        return Split(a.store, labels, targets, rows=torch.cat([a.rows, b.rows]), mapping=a.mapping)
    return Split(torch.cat([a.images, b.images]), labels, targets)


def _row_max(split: Split, chunk: int = 4096) -> torch.Tensor:
    """The brightest pixel of every image, read in chunks so a mapped split is never held whole."""
    return torch.cat(
        [
            split.gather(torch.arange(i, min(i + chunk, len(split)))).flatten(1).amax(dim=1)
            for i in range(0, len(split), chunk)
        ]
        or [torch.zeros(0, dtype=torch.uint8)]
    )


def _oversample(split: Split, num_classes: int, seed: int) -> Split:
    """Duplicate random members of each class until every present class has as many as the largest."""
    gen = torch.Generator().manual_seed(seed)
    counts = torch.bincount(split.labels, minlength=num_classes)
    target = int(counts.max())
    parts = []
    for c in range(num_classes):
        members = (split.labels == c).nonzero().squeeze(1)
        if len(members) == 0:
            continue
        extra = members[torch.randint(len(members), (target - len(members),), generator=gen)]
        parts.extend([members, extra])
    return split.subset(torch.cat(parts))
