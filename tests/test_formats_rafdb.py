"""RAF-DB readers: the official label list (aligned/original images) and the train|test/<1..7>/ folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from fer_lightning.data.formats import detect_format, load_dataset
from fer_lightning.errors import DataFormatError, MissingDataError
from fer_lightning.labels import canonical_index

# RAF-DB code -> canonical index, written out independently of the reader's table.
EXPECTED = {1: 5, 2: 2, 3: 1, 4: 3, 5: 4, 6: 0, 7: 6}


def save_rgb(path: Path, value: int, size: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), (value, 255 - value, value // 2)).save(path)


def write_list_layout(base: Path, entries: list[tuple[str, int]], aligned: bool = True) -> Path:
    lines = []
    for i, (name, code) in enumerate(entries):
        stem = name.rsplit(".", 1)[0]
        if aligned:
            save_rgb(base / "Image" / "aligned" / f"{stem}_aligned.jpg", 10 * i)
        else:
            save_rgb(base / "Image" / "original" / name, 10 * i, size=120)
        lines.append(f"{name} {code}")
    list_path = base / "EmoLabel" / "list_patition_label.txt"
    list_path.parent.mkdir(parents=True, exist_ok=True)
    list_path.write_text("\n".join(lines) + "\n")
    return list_path


ENTRIES = [
    ("train_00001.jpg", 1),
    ("train_00002.jpg", 2),
    ("train_00003.jpg", 3),
    ("train_00004.jpg", 4),
    ("test_0001.jpg", 5),
    ("test_0002.jpg", 6),
    ("test_0003.jpg", 7),
]


def load(root: Path, **kwargs):
    kwargs.setdefault("image_size", 100)
    kwargs.setdefault("channels", 3)
    return load_dataset("rafdb", root, **kwargs)


def test_code_table_matches_names():
    names = {1: "surprise", 2: "fear", 3: "disgust", 4: "happiness", 5: "sadness", 6: "anger", 7: "neutral"}
    assert {code: canonical_index(name) for code, name in names.items()} == EXPECTED


def test_list_layout_aligned(tmp_path):
    write_list_layout(tmp_path, ENTRIES)
    assert detect_format("rafdb", tmp_path) == "list"
    ds = load(tmp_path)
    assert list(ds.splits) == ["train", "test"]
    assert ds.splits["train"].labels.tolist() == [EXPECTED[c] for _, c in ENTRIES[:4]]
    assert ds.splits["test"].labels.tolist() == [EXPECTED[c] for _, c in ENTRIES[4:]]
    assert ds.splits["train"].images.shape == (4, 3, 100, 100)
    assert ds.dropped == {}


def test_list_layout_original_under_basic_gray_and_resized(tmp_path):
    write_list_layout(tmp_path / "basic", ENTRIES, aligned=False)
    ds = load(tmp_path, image_size=40, channels=1)
    assert ds.splits["test"].images.shape == (3, 1, 40, 40)
    assert ds.splits["test"].labels.tolist() == [4, 0, 6]


def test_list_prefers_aligned_images(tmp_path):
    write_list_layout(tmp_path, ENTRIES[:1])
    save_rgb(tmp_path / "Image" / "original" / "train_00001.jpg", 200)
    ds = load(tmp_path)
    assert int(ds.splits["train"].images[0, 0].float().mean()) < 20  # the aligned (value 0) image was read


BAD_LINES = {
    "label zero": ("train_00009.jpg 0", "label '0' must be an integer 1-7"),
    "label eight": ("train_00009.jpg 8", "label '8' must be an integer 1-7"),
    "label text": ("train_00009.jpg happy", "must be an integer 1-7 (1 surprise"),
    "three tokens": ("train_00009.jpg 1 2", "expected '<image name> <label>'"),
    "one token": ("train_00009.jpg", "expected '<image name> <label>'"),
    "bad prefix": ("val_00009.jpg 1", "must be a file name starting with train_ or test_"),
    "missing image": ("train_00009.jpg 1", "train_00009_aligned.jpg is missing"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_list_line_names_file_and_line(tmp_path, case):
    line, expected = BAD_LINES[case]
    list_path = write_list_layout(tmp_path, ENTRIES)
    lines = list_path.read_text().splitlines()
    lines.insert(2, "")  # blank lines are not data but still count as lines
    lines.insert(4, line)  # -> line 5
    list_path.write_text("\n".join(lines) + "\n")
    error = MissingDataError if case == "missing image" else DataFormatError
    with pytest.raises(error) as info:
        load(tmp_path)
    assert f"{list_path}, line 5:" in str(info.value)
    assert expected in str(info.value)


def test_unreadable_image_names_list_line(tmp_path):
    list_path = write_list_layout(tmp_path, ENTRIES)
    (tmp_path / "Image" / "aligned" / "test_0002_aligned.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DataFormatError) as info:
        load(tmp_path)
    assert f"{list_path}, line 6: image" in str(info.value)
    assert "test_0002_aligned.jpg: cannot decode image" in str(info.value)


def test_skip_mode_counts_bad_lines_and_files(tmp_path):
    list_path = write_list_layout(tmp_path, ENTRIES)
    list_path.write_text(list_path.read_text() + "train_01000.jpg 9\nnonsense\ntrain_02000.jpg 1\n")
    (tmp_path / "Image" / "aligned" / "test_0001_aligned.jpg").write_bytes(b"")
    with pytest.warns(UserWarning, match=r"list_patition_label\.txt: skipped 4 bad row"):
        ds = load(tmp_path, on_bad_rows="skip")
    assert ds.dropped == {"bad_rows": 4}
    assert len(ds.splits["train"]) == 4 and ds.splits["test"].labels.tolist() == [0, 6]


def test_missing_image_folders_and_root(tmp_path):
    list_path = write_list_layout(tmp_path, ENTRIES[:1])
    for p in (tmp_path / "Image" / "aligned").iterdir():
        p.unlink()
    (tmp_path / "Image" / "aligned").rmdir()
    with pytest.raises(MissingDataError, match="neither image folder"):
        load(tmp_path)
    list_path.unlink()
    with pytest.raises(MissingDataError) as info:
        load(tmp_path)
    assert "list_patition_label.txt" in str(info.value) and "data=synthetic" in str(info.value)
    with pytest.raises(MissingDataError, match="does not exist"):
        load(tmp_path / "absent")
    with pytest.raises(MissingDataError):
        load(tmp_path, format="folders")


def make_folders(base: Path) -> None:
    for split, codes in (("train", [1, 4, 4, 7]), ("test", [2, 6])):
        for i, code in enumerate(codes):
            save_rgb(base / split / str(code) / f"{split}_{i:05d}_aligned.jpg", 20 * i)


@pytest.mark.parametrize("prefix", ["", "DATASET"])
def test_folders_layout(tmp_path, prefix):
    make_folders(tmp_path / prefix if prefix else tmp_path)
    assert detect_format("rafdb", tmp_path) == "folders"
    ds = load(tmp_path)
    assert sorted(ds.splits["train"].labels.tolist()) == sorted([EXPECTED[c] for c in (1, 4, 4, 7)])
    assert sorted(ds.splits["test"].labels.tolist()) == sorted([EXPECTED[2], EXPECTED[6]])
    assert torch.bincount(ds.splits["train"].labels, minlength=8)[3] == 2


def test_folders_unknown_class_folder(tmp_path):
    make_folders(tmp_path)
    save_rgb(tmp_path / "train" / "happy" / "x.jpg", 1)
    with pytest.raises(DataFormatError) as info:
        load(tmp_path)
    assert str(tmp_path / "train" / "happy") in str(info.value)
    assert "allowed class folder names: an integer 1-7" in str(info.value)
    with pytest.warns(UserWarning, match="skipped 1 bad"):
        ds = load(tmp_path, on_bad_rows="skip")
    assert ds.dropped == {"bad_rows": 1} and len(ds.splits["train"]) == 4


def test_many_images_decode_in_parallel_in_order(tmp_path):
    for i in range(80):
        path = tmp_path / "train" / str(1 + i % 7) / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (12, 12), i).save(path)
    ds = load(tmp_path, image_size=12, channels=1)
    split = ds.splits["train"]
    assert len(split) == 80 and "test" not in ds.splits
    values = split.images[:, 0, 0, 0].tolist()
    assert all(EXPECTED[1 + v % 7] == label for v, label in zip(values, split.labels.tolist(), strict=True))
    assert sorted(values) == list(range(80))
