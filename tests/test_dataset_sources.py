"""The dataset source objects: one per dataset, with its layouts, detection, readers and missing-data message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_lightning.data.arrays import LoadedDataset
from fer_lightning.data.formats import FORMATS, SOURCES, detect_format, source_of
from fer_lightning.data.formats.common import BadRows, ReadOptions
from fer_lightning.data.formats.source import DatasetSource, Layout
from fer_lightning.errors import ConfigError, MissingDataError


def _never(root: Path) -> bool:
    return False


def _unused_reader(root: Path, opts: ReadOptions, bad: BadRows) -> LoadedDataset:
    raise AssertionError("not read in these tests")


def _toy() -> DatasetSource:
    return DatasetSource(
        "toy",
        (
            Layout("first", lambda root: (root / "a").is_dir(), _unused_reader),
            Layout("second", lambda root: (root / "b").is_dir(), _unused_reader),
            Layout("absent", _never, _unused_reader),
        ),
        lambda root, what: f"{what}. Expected {root}/a or {root}/b.",
    )


def test_registry_lists_each_dataset_once_with_its_formats_in_detection_order():
    assert list(SOURCES) == ["fer2013", "rafdb", "affectnet"]
    assert all(name == source.name for name, source in SOURCES.items())
    assert {name: source.formats for name, source in SOURCES.items()} == FORMATS
    assert source_of("fer2013").labels == ("default", "ferplus")
    assert source_of("rafdb").labels == source_of("affectnet").labels == ("default",)
    with pytest.raises(
        ConfigError, match=r"data\.dataset='ckplus'.*allowed values: fer2013, rafdb, affectnet"
    ):
        source_of("ckplus")


def test_detection_takes_the_first_layout_found(tmp_path):
    toy = _toy()
    (tmp_path / "b").mkdir()
    assert toy.detect(tmp_path) == "second"
    (tmp_path / "a").mkdir()
    assert toy.detect(tmp_path) == "first"  # both present: the earlier layout wins
    assert toy.formats == ("first", "second", "absent")
    assert toy.reader("second") is _unused_reader


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda root: root.mkdir(), "No toy files found under {root}"),
        (lambda root: None, "Dataset root {root} does not exist"),
        (lambda root: root.write_text("x"), "Dataset root {root} is not a folder"),
    ],
)
def test_missing_data_names_the_root_and_what_was_looked_for(tmp_path, make, what):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(MissingDataError) as err:
        _toy().detect(root)
    assert str(err.value) == f"{what.format(root=root)}. Expected {root}/a or {root}/b."


def test_detect_format_uses_the_dataset_objects(tmp_path):
    (tmp_path / "Manually_Annotated_file_lists").mkdir()
    assert detect_format("affectnet", tmp_path) == "csv"
    (tmp_path / "basic" / "EmoLabel").mkdir(parents=True)
    (tmp_path / "basic" / "EmoLabel" / "list_patition_label.txt").write_text("")
    assert detect_format("rafdb", tmp_path) == "list"
    with pytest.raises(MissingDataError, match="No fer2013 files found under"):
        detect_format("fer2013", tmp_path)


def test_a_reader_returns_its_drop_counts(tmp_path):
    # RAF-DB folders: code 7 (neutral) kept, a stray text file and nothing else dropped
    for split in ("train", "test"):
        folder = tmp_path / split / "7"
        folder.mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), 100, dtype=np.uint8)).save(folder / "a.png")
    (tmp_path / "train" / "7" / "notes.txt").write_text("not an image")
    read = source_of("rafdb").reader("folders")
    with pytest.warns(UserWarning, match="not images"):
        result = read(tmp_path, ReadOptions(image_size=8, channels=1, decode_workers=1), BadRows("error"))
    assert result.dropped == {"non_image_files": 1}
    assert {name: len(split) for name, split in result.splits.items()} == {"train": 1, "test": 1}
