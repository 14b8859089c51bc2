"""The in-memory DataModule: batching, sharding, splits, balancing, blank removal, caching, inspect."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import run_cli

from fer_lightning.augment import Augment, HorizontalFlip
from fer_lightning.data.arrays import LoadedDataset, Split
from fer_lightning.data.datamodule import FERDataModule, InMemoryDataModule
from fer_lightning.data.loader import TensorBatchLoader
from fer_lightning.errors import ConfigError, DataFormatError


def make_split(labels: list[int], size: int = 8, blank: tuple[int, ...] = ()) -> Split:
    n = len(labels)
    images = torch.arange(n, dtype=torch.int64).view(n, 1, 1, 1).expand(n, 1, size, size) % 250 + 1
    images = images.to(torch.uint8).clone()
    for i in blank:
        images[i] = 0
    return Split(images, torch.tensor(labels, dtype=torch.int64))


class FixedData(InMemoryDataModule):
    """A DataModule over given splits, to test the shared logic without files."""

    def __init__(self, splits: dict[str, Split], **kwargs) -> None:
        super().__init__(image_size=8, **kwargs)
        self._given = splits

    def load(self) -> LoadedDataset:
        return LoadedDataset(dict(self._given), {}, "fixed")


def ids(batches) -> list[int]:
    """Recover sample ids from images built by make_split (pixel value = id + 1)."""
    return [int(v) - 1 for images, _, _ in batches for v in images[:, 0, 0, 0]]


def test_eval_loader_yields_every_sample_once_in_order():
    split = make_split([0, 1, 2, 3, 4, 5, 6] * 3)
    loader = TensorBatchLoader(split, 4, shuffle=False)
    assert len(loader) == 6
    assert ids(loader) == list(range(21))


def test_train_order_is_seeded_by_epoch():
    split = make_split(list(range(7)) * 10)
    epoch = {"n": 0}
    loader = TensorBatchLoader(split, 8, shuffle=True, seed=1, epoch_fn=lambda: epoch["n"])
    first = ids(loader)
    assert sorted(first) == list(range(70))
    assert ids(loader) == first  # same epoch, same order
    epoch["n"] = 1
    assert ids(loader) != first
    seeds = [s for _, _, s in loader]
    assert len(set(seeds)) == len(seeds)  # every batch gets its own augmentation seed


def test_shards_are_disjoint_and_equal_sized():
    split = make_split(list(range(7)) * 9)  # 63 samples
    shards = [ids(TensorBatchLoader(split, 5, shuffle=True, seed=3, rank=r, world_size=2)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 31
    assert not set(shards[0]) & set(shards[1])
    evals = [ids(TensorBatchLoader(split, 5, shuffle=False, rank=r, world_size=2)) for r in range(2)]
    assert sorted(evals[0] + evals[1]) == list(range(63))


def test_validation_is_carved_stratified_when_the_source_has_none():
    labels = [c for c in range(7) for _ in range(20)]
    dm = FixedData({"train": make_split(labels)}, val_fraction=0.2, seed=0)
    dm.setup()
    assert len(dm.splits["val"]) == 28
    assert torch.bincount(dm.splits["val"].labels).tolist() == [4] * 7
    train_ids = set(dm.splits["train"].images[:, 0, 0, 0].tolist())
    val_ids = set(dm.splits["val"].images[:, 0, 0, 0].tolist())
    assert not train_ids & val_ids and len(train_ids | val_ids) == 140


def test_kfold_partitions_the_train_pool():
    labels = [c for c in range(7) for _ in range(10)]
    seen = []
    for fold in range(5):
        dm = FixedData({"train": make_split(labels)}, num_folds=5, fold=fold, seed=0)
        dm.setup()
        seen += dm.splits["val"].images[:, 0, 0, 0].tolist()
        assert len(dm.splits["train"]) + len(dm.splits["val"]) == 70
    assert sorted(seen) == sorted(make_split(labels).images[:, 0, 0, 0].tolist())


def test_blank_images_are_dropped_and_counted():
    dm = FixedData(
        {"train": make_split([0, 1, 2, 3, 4, 5, 6] * 4, blank=(0, 5)), "val": make_split([0, 1], blank=(1,))},
        drop_blank=True,
    )
    dm.setup()
    assert dm.dropped == {"blank_train": 2, "blank_val": 1}
    assert len(dm.splits["train"]) == 26 and len(dm.splits["val"]) == 1
    assert int(dm.splits["train"].images.flatten(1).amax(1).min()) > 0


def test_oversampling_equalises_classes():
    labels = [0] * 12 + [1] * 3 + [3] * 6
    dm = FixedData({"train": make_split(labels), "val": make_split([0])}, balance="oversample")
    dm.setup()
    counts = torch.bincount(dm.splits["train"].labels, minlength=7)
    assert counts.tolist() == [12, 12, 0, 12, 0, 0, 0]


def test_class_weights_and_sampler():
    labels = [0] * 30 + [1] * 10
    dm = FixedData({"train": make_split(labels), "val": make_split([0])}, balance="class_weights")
    dm.setup()
    assert dm.class_weights[0] < dm.class_weights[1]
    assert dm.class_weights[2] == 0  # absent class
    dm = FixedData({"train": make_split(labels), "val": make_split([0])}, balance="sampler", seed=0)
    dm.setup()
    drawn = torch.cat([y for _, y, _ in dm.train_dataloader()])
    share = (drawn == 1).float().mean().item()
    assert 0.35 < share < 0.65  # balanced draws, though class 1 is a quarter of the data


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"batch_size": 0}, "data.batch_size"),
        ({"channels": 2}, "data.channels"),
        ({"num_classes": 5}, "data.num_classes"),
        ({"balance": "smote"}, "data.balance"),
        ({"val_fraction": 1.5}, "data.val_fraction"),
        ({"num_folds": 5, "fold": 5}, "data.fold"),
        ({"mean": [0.5, 0.5]}, "data.mean"),
    ],
)
def test_bad_settings_name_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        FixedData({"train": make_split([0])}, **kwargs)


def test_missing_test_split_is_said_plainly():
    dm = FixedData({"train": make_split([0, 1] * 10), "val": make_split([0, 1])})
    assert not dm.has_test
    with pytest.raises(DataFormatError, match="no labelled test split"):
        dm.test_dataloader()


def test_labels_beyond_num_classes_are_refused():
    dm = FixedData({"train": make_split([0, 7]), "val": make_split([0])}, num_classes=7)
    with pytest.raises(ConfigError, match="data.num_classes=8"):
        dm.setup()


def test_batch_transfer_augments_only_in_training_and_normalises():
    class Trainer:
        training = True

    dm = FixedData(
        {"train": make_split([0] * 8), "val": make_split([0])}, augment=Augment([HorizontalFlip(p=1.0)])
    )
    images = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    images[:, :, :, 0] = 255  # a bright left column
    dm.trainer = Trainer()
    x, _ = dm.on_after_batch_transfer((images, torch.zeros(2, dtype=torch.long), 123), 0)
    assert torch.allclose(x[:, :, :, -1], torch.ones(2, 1, 8))  # flipped, then (1 - 0.5) / 0.5
    assert torch.allclose(x[:, :, :, 0], -torch.ones(2, 1, 8))
    Trainer.training = False
    x, _ = dm.on_after_batch_transfer((images, torch.zeros(2, dtype=torch.long), 123), 0)
    assert torch.allclose(x[:, :, :, 0], torch.ones(2, 1, 8))  # not flipped outside training


def write_fer_csv(path, rows):
    lines = ["emotion,pixels,Usage"]
    for label, usage, value in rows:
        lines.append(f"{label},{' '.join([str(value)] * 2304)},{usage}")
    path.write_text("\n".join(lines) + "\n")


def test_decoded_dataset_is_cached_and_rebuilt_when_the_file_changes(tmp_path, monkeypatch):
    root = tmp_path / "fer"
    root.mkdir()
    rows = [(c % 7, "Training", 10 + c) for c in range(14)] + [(c, "PublicTest", 50) for c in range(7)]
    write_fer_csv(root / "fer2013.csv", rows)
    calls = []
    import fer_lightning.data.formats as formats

    real = formats.load_dataset
    monkeypatch.setattr(formats, "load_dataset", lambda *a, **k: calls.append(1) or real(*a, **k))

    def make():
        return FERDataModule(dataset="fer2013", root=str(root), cache_dir=str(tmp_path / "cache"))

    first = make()
    first.setup()
    assert len(calls) == 1 and first.cache_path.is_dir()
    second = make()
    second.setup()
    assert len(calls) == 1  # served from the cache
    assert torch.equal(first.splits["train"].images, second.splits["train"].images)
    write_fer_csv(root / "fer2013.csv", rows + [(3, "Training", 99)])
    third = make()
    third.setup()
    assert len(calls) == 2 and len(third.splits["train"]) == 15


def test_inspect_json_on_a_fer2013_csv(tmp_path):
    root = tmp_path / "fer"
    root.mkdir()
    rows = [(c % 7, "Training", 10) for c in range(21)] + [(0, "Training", 0)]
    rows += [(c, "PublicTest", 20) for c in range(7)] + [(3, "PrivateTest", 30), (3, "PrivateTest", 30)]
    write_fer_csv(root / "fer2013.csv", rows)
    res = run_cli(
        "fer_lightning.inspect",
        "data=fer2013",
        f"data.root={root}",
        "data.drop_blank=true",
        "format=json",
        f"paths.data_dir={tmp_path}",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["splits"]["train"]["n"] == 21
    assert out["splits"]["train"]["per_class"]["angry"] == 3
    assert out["splits"]["val"]["n"] == 7
    assert out["splits"]["test"]["per_class"]["happy"] == 2
    assert out["dropped"] == {"blank_train": 1}
    assert out["cache"].startswith(str(tmp_path))


@pytest.mark.real_data
def test_real_fer2013_datamodule(fer2013_gz, tmp_path):
    dm = FERDataModule(
        dataset="fer2013", root=str(fer2013_gz.parent), cache_dir=str(tmp_path / "cache"), drop_blank=True
    )
    summary = dm.summary()
    assert summary["splits"]["train"]["n"] + summary["dropped"].get("blank_train", 0) == 28709
    assert summary["splits"]["val"]["n"] + summary["dropped"].get("blank_val", 0) == 3589
    assert sum(summary["dropped"].values()) == 12
    assert "test" not in summary["splits"]
    cached = FERDataModule(dataset="fer2013", root=str(fer2013_gz.parent), cache_dir=str(tmp_path / "cache"))
    cached.setup()
    assert cached.cache_path == dm.cache_path and cached.cache_path.is_dir()  # one cache serves both views
    assert len(cached.splits["train"]) == 28709  # without blank removal
    assert np.array_equal(
        torch.bincount(cached.splits["train"].labels).numpy(), [3995, 436, 4097, 7215, 4830, 3171, 4965]
    )
