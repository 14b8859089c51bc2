"""AffectNet readers: the Manually_Annotated CSV lists (box crops, valence/arousal) and the npy layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fer_lightning.data.formats import detect_format, load_dataset
from fer_lightning.data.formats.image_decoding import decode_image
from fer_lightning.errors import DataFormatError, MissingDataError

HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
)
# AffectNet code -> canonical index (0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral, 7 contempt).
EXPECTED = {0: 6, 1: 3, 2: 4, 3: 5, 4: 2, 5: 1, 6: 0, 7: 7}


def two_tone(path: Path, left: int, right: int, size: tuple[int, int] = (80, 60)) -> None:
    """An RGB image whose left half is gray `left` and right half gray `right`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size[1], size[0], 3), left, dtype=np.uint8)
    arr[:, size[0] // 2 :] = right
    Image.fromarray(arr).save(path)


def csv_row(name: str, code: object, box=(40, 0, 40, 60), va=(0.25, -0.5)) -> str:
    x, y, w, h = box
    return f'{name},{x},{y},{w},{h},"1.0;2.0;3.0",{code},{va[0]},{va[1]}'


def write_csv_layout(root: Path, train: list[str], validation: list[str], header: bool = True) -> None:
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "training.csv").write_text("\n".join([HEADER, *train]) + "\n")
    (lists / "validation.csv").write_text("\n".join(([HEADER] if header else []) + validation) + "\n")
    (root / "Manually_Annotated_Images").mkdir(exist_ok=True)


def image(root: Path, name: str, left: int = 10, right: int = 200) -> str:
    two_tone(root / "Manually_Annotated_Images" / name, left, right)
    return name


def load(root: Path, **kwargs):
    kwargs.setdefault("image_size", 32)
    kwargs.setdefault("channels", 3)
    return load_dataset("affectnet", root, **kwargs)


def test_csv_labels_crops_targets_and_drops(tmp_path):
    train = [
        csv_row(image(tmp_path, f"1/{code}.jpg"), code, va=(code / 10, -code / 10)) for code in range(11)
    ]
    validation = [csv_row(image(tmp_path, "2/v.png"), 1)]
    write_csv_layout(tmp_path, train, validation)
    assert detect_format("affectnet", tmp_path) == "csv"
    ds = load(tmp_path)
    split = ds.splits["train"]
    assert split.labels.tolist() == [EXPECTED[c] for c in range(8)]
    assert ds.dropped == {
        "affectnet_code_8_none": 1,
        "affectnet_code_9_uncertain": 1,
        "affectnet_code_10_no_face": 1,
    }
    # The box covers the right half only, so the crop is uniformly the right-half gray.
    assert split.images.shape == (8, 3, 32, 32)
    assert int(split.images.min()) >= 195 and int(split.images.max()) <= 205
    assert split.targets["valence"].dtype == torch.float32
    assert torch.allclose(split.targets["valence"], torch.arange(8) / 10)
    assert torch.allclose(split.targets["arousal"], -torch.arange(8) / 10)
    assert ds.splits["test"].labels.tolist() == [3] and list(ds.splits) == ["train", "test"]


def test_num_classes_seven_drops_contempt(tmp_path):
    write_csv_layout(
        tmp_path, [csv_row(image(tmp_path, "a.jpg"), 7), csv_row(image(tmp_path, "b.jpg"), 0)], []
    )
    ds = load(tmp_path, num_classes=7)
    assert ds.splits["train"].labels.tolist() == [6]
    assert ds.dropped == {"contempt_excluded": 1}
    assert "test" not in ds.splits  # no labelled validation rows
    assert load(tmp_path, num_classes=8).splits["train"].labels.tolist() == [7, 6]


def test_validation_csv_without_header_and_clipped_box(tmp_path):
    name = image(tmp_path, "v.jpg", left=50, right=50)
    write_csv_layout(tmp_path, [], [csv_row(name, 2, box=(-10, -10, 500, 500))], header=False)
    ds = load(tmp_path, channels=1, image_size=16)
    assert ds.splits["test"].labels.tolist() == [4]
    assert ds.splits["test"].images.shape == (1, 1, 16, 16)


BAD = {
    "expression text": (dict(code="happy"), "expression 'happy' must be an integer 0-10"),
    "expression 11": (dict(code=11), "expression '11' must be an integer 0-10"),
    "expression negative": (dict(code=-1), "must be an integer 0-10"),
    "box text": (dict(box=("x", 0, 10, 10)), "face_x, face_y, face_width, face_height must be numbers"),
    "valence text": (dict(va=("high", 0)), "valence and arousal must be finite numbers"),
    "box outside": (dict(box=(500, 500, 10, 10)), "is empty or lies outside the 80x60 image"),
    "box empty": (dict(box=(5, 5, 0, 10)), "is empty or lies outside"),
    "missing image": (dict(name="nope/missing.jpg"), "missing.jpg is missing"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_rows_name_file_and_line(tmp_path, case):
    change, expected = BAD[case]
    good = [csv_row(image(tmp_path, f"{i}.jpg"), 1) for i in range(3)]
    bad = csv_row(
        change.get("name", image(tmp_path, "bad.jpg")),
        change.get("code", 1),
        **{k: v for k, v in change.items() if k in ("box", "va")},
    )
    write_csv_layout(tmp_path, good[:2] + [bad] + good[2:], [])
    error = MissingDataError if case == "missing image" else DataFormatError
    with pytest.raises(error) as info:
        load(tmp_path)
    path = tmp_path / "Manually_Annotated_file_lists" / "training.csv"
    assert f"{path}, line 4:" in str(info.value)
    assert expected in str(info.value)


def test_wrong_field_count_and_skip_mode(tmp_path):
    rows = [csv_row(image(tmp_path, f"{i}.jpg"), i) for i in range(3)]
    rows.insert(1, "only,three,fields")
    rows.append(csv_row("gone.jpg", 1))
    write_csv_layout(tmp_path, rows, [csv_row(image(tmp_path, "v.jpg"), 9)])
    with pytest.raises(DataFormatError, match=r"training\.csv, line 3: expected 9 comma-separated fields"):
        load(tmp_path)
    with pytest.warns(UserWarning, match="skipped 2 bad row"):
        ds = load(tmp_path, on_bad_rows="skip")
    assert ds.splits["train"].labels.tolist() == [6, 3, 4]
    assert ds.dropped == {"bad_rows": 2, "affectnet_code_9_uncertain": 1}
    assert "test" not in ds.splits


def test_missing_lists(tmp_path):
    with pytest.raises(MissingDataError) as info:
        load(tmp_path)
    assert "Manually_Annotated_file_lists" in str(info.value) and "data=synthetic" in str(info.value)
    (tmp_path / "Manually_Annotated_file_lists").mkdir()
    with pytest.raises(MissingDataError, match=r"training\.csv not found"):
        load(tmp_path)


# ------------------------------------------------------------------------------------------------- npy


def write_npy_sample(folder: Path, stem: str, code, va: tuple | None = (0.5, -0.25), value: int = 90) -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), (value, value, value)).save(folder / "images" / f"{stem}.jpg")
    np.save(folder / "annotations" / f"{stem}_exp.npy", np.array(str(code)))
    np.save(folder / "annotations" / f"{stem}_lnd.npy", np.zeros(136))
    if va is not None:
        np.save(folder / "annotations" / f"{stem}_val.npy", np.array(str(va[0])))
        np.save(folder / "annotations" / f"{stem}_aro.npy", np.array(str(va[1])))


def test_npy_layout(tmp_path):
    for stem, code in (("10", 0), ("2", 1), ("3", 7), ("4", 8)):
        write_npy_sample(tmp_path / "train_set", stem, code, va=(int(stem) / 10, 0.0))
    write_npy_sample(tmp_path / "val_set", "5", 6)
    assert detect_format("affectnet", tmp_path) == "npy"
    ds = load(tmp_path)
    train = ds.splits["train"]
    assert train.labels.tolist() == [3, 7, 6]  # ids in numeric order: 2, 3, 10
    assert torch.allclose(train.targets["valence"], torch.tensor([0.2, 0.3, 1.0]))
    assert ds.splits["test"].labels.tolist() == [0]
    assert ds.dropped == {"affectnet_code_8_none": 1}


def test_npy_without_targets_and_bad_samples(tmp_path):
    folder = tmp_path / "train_set"
    write_npy_sample(folder, "1", 3, va=None)
    write_npy_sample(folder, "2", "x", va=None)
    (folder / "annotations" / "3_exp.npy").write_bytes(b"garbage")
    Image.new("RGB", (8, 8)).save(folder / "images" / "3.jpg")
    Image.new("RGB", (8, 8)).save(folder / "images" / "4.jpg")  # no annotation
    np.save(folder / "annotations" / "5_exp.npy", np.array("1"))  # no image
    with pytest.raises(DataFormatError, match=r"2_exp\.npy: expression 'x' must be an integer 0-10"):
        load(tmp_path)
    with pytest.warns(UserWarning) as record:
        ds = load(tmp_path, on_bad_rows="skip")
    assert ds.dropped == {"bad_rows": 4}
    assert ds.splits["train"].labels.tolist() == [5] and ds.splits["train"].targets == {}
    messages = " ".join(str(w.message) for w in record)
    assert "4_exp.npy is missing" in messages and "no image" in messages and "cannot read" in messages


def test_npy_missing_annotation_folder(tmp_path):
    (tmp_path / "train_set" / "images").mkdir(parents=True)
    with pytest.raises(MissingDataError, match="annotations not found"):
        load(tmp_path)


# -------------------------------------------------------------------------------------------- decoding


def test_large_jpeg_crop_uses_reduced_decode_correctly(tmp_path):
    path = tmp_path / "big.jpg"
    two_tone(path, 0, 250, size=(1600, 1200))
    crop = decode_image(path, 32, 3, box=(900.0, 100.0, 600.0, 600.0))
    assert crop.shape == (3, 32, 32) and int(crop.min()) >= 240
    left = decode_image(path, 32, 1, box=(0.0, 0.0, 700.0, 1200.0))
    assert left.shape == (1, 32, 32) and int(left.max()) <= 10
    whole = decode_image(path, 16, 1)
    assert int(whole[0, :, 0].max()) <= 10 and int(whole[0, :, -1].min()) >= 240


@pytest.mark.parametrize("mode", ["P", "RGBA", "LA", "I;16", "CMYK", "1"])
def test_decode_unusual_modes(tmp_path, mode):
    path = tmp_path / ("img.jpg" if mode == "CMYK" else "img.png")
    img = Image.new("RGB", (20, 20), (200, 200, 200)).convert(mode)
    if mode == "I;16":
        img = Image.fromarray(np.full((20, 20), 50000, dtype=np.uint16))
    if mode == "P":
        img.info["transparency"] = 0
    img.save(path)
    rgb, gray = decode_image(path, 8, 3), decode_image(path, 8, 1)
    assert rgb.shape == (3, 8, 8) and gray.shape == (1, 8, 8)
    assert rgb.dtype == np.uint8 and int(gray.max()) > 150
