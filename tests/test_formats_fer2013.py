"""FER2013 readers: the Kaggle CSVs, the FER+ relabelling and the Kaggle folder layouts, incl. every bad input."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fer_lightning.data.formats import FORMATS, detect_format, load_dataset
from fer_lightning.data.formats.fer2013 import parse_pixels
from fer_lightning.errors import ConfigError, DataFormatError, MissingDataError

REPO = Path(__file__).resolve().parents[1]
REAL_FER2013 = REPO.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"


def pixels(seed: int) -> str:
    """A deterministic 48x48 pixel string whose first value encodes the seed (to track rows)."""
    values = (np.arange(2304) * 7 + seed * 13) % 256
    values[0] = seed % 256
    return " ".join(str(v) for v in values)


def write_csv(path: Path, rows: list[tuple], header: str = "emotion,pixels,Usage", gz: bool = False) -> Path:
    text = header + "\n" + "".join(",".join(str(c) for c in row) + "\n" for row in rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def standard_rows() -> list[tuple]:
    return [
        (0, pixels(1), "Training"),
        (3, pixels(2), "Training"),
        (6, pixels(3), "Training"),
        (5, pixels(4), "PublicTest"),
        (1, pixels(5), "PublicTest"),
        (2, pixels(6), "PrivateTest"),
        (4, pixels(7), "PrivateTest"),
    ]


def load(root: Path, **kwargs):
    kwargs.setdefault("image_size", 48)
    kwargs.setdefault("channels", 1)
    return load_dataset("fer2013", root, **kwargs)


# ----------------------------------------------------------------------------------------------------- CSV


def test_csv_splits_labels_and_pixels(tmp_path):
    write_csv(tmp_path / "fer2013.csv", standard_rows())
    ds = load(tmp_path)
    assert list(ds.splits) == ["train", "val", "test"]
    assert ds.splits["train"].labels.tolist() == [0, 3, 6]
    assert ds.splits["val"].labels.tolist() == [5, 1]
    assert ds.splits["test"].labels.tolist() == [2, 4]
    train = ds.splits["train"]
    assert train.images.shape == (3, 1, 48, 48) and train.images.dtype == torch.uint8
    expected = np.array(pixels(2).split(), dtype=np.uint8).reshape(48, 48)
    assert np.array_equal(train.images[1, 0].numpy(), expected)
    assert ds.dropped == {}
    assert "fer2013.csv" in ds.source


def test_csv_resize_and_rgb(tmp_path):
    write_csv(tmp_path / "fer2013.csv", standard_rows())
    ds = load(tmp_path, image_size=24, channels=3)
    images = ds.splits["train"].images
    assert images.shape == (3, 3, 24, 24)
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 1], images[:, 2])


def test_no_private_test_rows_means_no_test_split(tmp_path):
    write_csv(tmp_path / "fer2013.csv", [r for r in standard_rows() if r[2] != "PrivateTest"])
    ds = load(tmp_path)
    assert list(ds.splits) == ["train", "val"]


def test_gzipped_csv_and_subfolder_detected(tmp_path):
    write_csv(tmp_path / "fer2013" / "fer2013.csv.gz", standard_rows(), gz=True)
    assert detect_format("fer2013", tmp_path) == "csv"
    ds = load(tmp_path)
    assert len(ds.splits["train"]) == 3 and "fer2013.csv.gz" in ds.source


def test_icml_face_data_columns_with_leading_spaces(tmp_path):
    rows = [(label, usage, pix) for label, pix, usage in standard_rows()]
    write_csv(tmp_path / "icml_face_data.csv", rows, header="emotion, Usage, pixels")
    ds = load(tmp_path)
    assert ds.splits["val"].labels.tolist() == [5, 1]
    assert len(ds.splits["test"]) == 2


def test_kaggle_train_csv_quoted_pixels_and_unlabelled_test(tmp_path):
    rows = [(0, f'"{pixels(1)}"'), (6, f'"{pixels(2)}"')]
    write_csv(tmp_path / "train.csv", rows, header="emotion,pixels")
    write_csv(tmp_path / "test.csv", [(f'"{pixels(3)}"',)], header="pixels")
    ds = load(tmp_path)
    assert list(ds.splits) == ["train"]
    assert ds.splits["train"].labels.tolist() == [0, 6]
    assert int(ds.splits["train"].images[1, 0, 0, 0]) == 2


def test_crlf_blank_lines_and_tolerant_whitespace(tmp_path):
    messy = pixels(9).replace(" ", "  ", 3) + " "  # doubled spaces and a trailing one still parse
    text = "emotion,pixels,Usage\r\n" + f"3,{pixels(1)},Training\r\n\r\n" + f"4,{messy},Training\r\n"
    (tmp_path / "fer2013.csv").write_bytes(text.encode())
    ds = load(tmp_path)
    assert ds.splits["train"].labels.tolist() == [3, 4]
    assert int(ds.splits["train"].images[1, 0, 0, 0]) == 9


def test_quoted_field_spanning_lines_keeps_line_numbers(tmp_path):
    text = f'emotion,pixels,Usage\n3,"{pixels(1)}",Training\n2,"1 2\n3",Training\n'
    (tmp_path / "fer2013.csv").write_text(text)
    with pytest.raises(DataFormatError, match=r"fer2013\.csv, line 3: expected 2304"):
        load(tmp_path)


BAD_ROWS = {
    "short pixels": ((0, " ".join(["1"] * 2303), "Training"), "expected 2304 space-separated pixel values"),
    "long pixels": ((0, " ".join(["1"] * 2305), "Training"), "got 2305"),
    "non-numeric pixel": ((0, pixels(1).replace("7", "x7", 1), "Training"), "not an integer 0-255"),
    "negative pixel": ((0, "-1" + pixels(1)[1:], "Training"), "not an integer 0-255"),
    "pixel too big": ((0, "256 " + " ".join(["1"] * 2303), "Training"), "out of range 0-255"),
    "huge pixel": ((0, "9" * 30 + " " + " ".join(["1"] * 2303), "Training"), "out of range 0-255"),
    "label 7": ((7, pixels(1), "Training"), "must be an integer 0-6"),
    "label text": (("happy", pixels(1), "Training"), "must be an integer 0-6"),
    "empty label": (("", pixels(1), "Training"), "must be an integer 0-6"),
    "unknown usage": ((0, pixels(1), "Validation"), "must be Training, PublicTest or PrivateTest"),
    "extra field": ((0, pixels(1), "Training", "x"), "expected 3 comma-separated fields"),
    "missing field": ((0, pixels(1)), "expected 3 comma-separated fields"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_bad_row_error_names_file_and_line(tmp_path, case):
    row, expected = BAD_ROWS[case]
    rows = standard_rows()
    rows.insert(3, row)  # data row 4 -> line 5 (header is line 1)
    write_csv(tmp_path / "fer2013.csv", rows)
    with pytest.raises(DataFormatError) as info:
        load(tmp_path)
    message = str(info.value)
    assert f"{tmp_path / 'fer2013.csv'}, line 5:" in message
    assert expected in message
    assert "on_bad_rows=skip" in message


def test_first_bad_line_is_reported(tmp_path):
    rows = standard_rows()
    rows[5] = (9, pixels(1), "Training")  # line 7: bad label
    rows[2] = (0, "1 2 3", "Training")  # line 4: bad pixels, found by a different pass
    write_csv(tmp_path / "fer2013.csv", rows)
    with pytest.raises(DataFormatError, match=r"line 4: expected 2304"):
        load(tmp_path)


def test_skip_mode_warns_counts_and_keeps_good_rows(tmp_path):
    rows = standard_rows()
    rows.insert(1, (0, "1 2 3", "Training"))
    rows.insert(4, (8, pixels(1), "PublicTest"))
    rows.append((0, pixels(1), "Nope"))
    write_csv(tmp_path / "fer2013.csv", rows)
    with pytest.warns(UserWarning, match=r"skipped 3 bad row") as record:
        ds = load(tmp_path, on_bad_rows="skip")
    assert "line 3" in str(record[0].message)
    assert ds.dropped == {"bad_rows": 3}
    assert ds.splits["train"].labels.tolist() == [0, 3, 6]
    assert ds.splits["val"].labels.tolist() == [5, 1]
    assert ds.splits["test"].labels.tolist() == [2, 4]


def test_missing_columns_name_header_line(tmp_path):
    write_csv(tmp_path / "fer2013.csv", [(0, "Training")], header="label,Usage")
    with pytest.raises(DataFormatError, match=r"fer2013\.csv, line 1: missing column\(s\) emotion, pixels"):
        load(tmp_path)


def test_empty_and_corrupt_files(tmp_path):
    (tmp_path / "fer2013.csv").write_text("")
    with pytest.raises(DataFormatError, match="empty"):
        load(tmp_path)
    (tmp_path / "fer2013.csv").unlink()
    (tmp_path / "fer2013.csv.gz").write_bytes(gzip.compress(b"emotion,pixels,Usage\n")[:-12])
    with pytest.raises(DataFormatError, match=r"fer2013\.csv\.gz: not a valid gzip"):
        load(tmp_path)


def test_missing_data_message_says_how_to_get_it(tmp_path):
    for root in (tmp_path / "nowhere", tmp_path):
        with pytest.raises(MissingDataError) as info:
            load(root)
        message = str(info.value)
        assert str(root / "fer2013.csv") in message
        assert "challenges-in-representation-learning-facial-expression-recognition-challenge" in message
        assert "data=synthetic" in message
    with pytest.raises(MissingDataError, match="data=synthetic"):
        load(tmp_path, format="csv")


def test_train_csv_without_pixels_is_not_fer2013(tmp_path):
    write_csv(tmp_path / "train.csv", [("a.jpg", 1)], header="image,label")
    with pytest.raises(MissingDataError):
        detect_format("fer2013", tmp_path)


def test_parse_pixels_bulk_and_fallback_agree():
    good = [pixels(i).encode() for i in range(5)]
    out, problems = parse_pixels(good)
    assert problems == {} and out[3, 0] == 3
    mixed = good[:2] + [b"1 2"] + good[2:] + [b"\t".join([b"5"] * 2304)]
    out2, problems2 = parse_pixels(mixed)
    assert list(problems2) == [2]
    assert np.array_equal(out2[[0, 1, 3, 4, 5]], out)
    assert (out2[6] == 5).all()


# ------------------------------------------------------------------------------------------------- FER+


FERPLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


def ferplus_fixture(root: Path, votes: list[tuple[int, ...]], usages: list[str] | None = None) -> None:
    usages = usages or ["Training"] * len(votes)
    write_csv(root / "fer2013.csv", [(0, pixels(i), u) for i, u in enumerate(usages)])
    rows = [(u, f"fer{i:07d}.png", *v) for i, (u, v) in enumerate(zip(usages, votes, strict=True))]
    write_csv(root / "fer2013new.csv", rows, header=FERPLUS_HEADER)


def test_ferplus_majority_vote_ties_and_drops(tmp_path):
    #            neu hap sur sad ang dis fea con unk NF
    votes = [
        (10, 0, 0, 0, 0, 0, 0, 0, 0, 0),  # neutral
        (0, 6, 4, 0, 0, 0, 0, 0, 0, 0),  # happy
        (0, 0, 5, 0, 5, 0, 0, 0, 0, 0),  # surprise/anger tie -> angry (canonical 0 < 5)
        (0, 0, 0, 0, 0, 0, 0, 7, 3, 0),  # contempt
        (3, 0, 0, 0, 0, 0, 0, 0, 3, 0),  # unknown ties the top -> dropped
        (1, 0, 0, 0, 0, 0, 0, 0, 0, 9),  # not a face -> dropped
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),  # no votes -> dropped
        (0, 0, 0, 4, 0, 0, 2, 0, 0, 0),  # sad
    ]
    ferplus_fixture(tmp_path, votes)
    ds = load(tmp_path, labels="ferplus")
    assert ds.splits["train"].labels.tolist() == [6, 3, 0, 7, 4]
    assert ds.dropped == {"ferplus_unknown": 1, "ferplus_not_face": 1, "ferplus_no_votes": 1}
    firsts = ds.splits["train"].images[:, 0, 0, 0].tolist()
    assert firsts == [0, 1, 2, 3, 7]  # images stay aligned with their FER+ rows
    seven = load(tmp_path, labels="ferplus", num_classes=7)
    assert seven.splits["train"].labels.tolist() == [6, 3, 0, 4]
    assert seven.dropped["contempt_excluded"] == 1


def test_ferplus_misalignment_and_bad_votes(tmp_path):
    ferplus_fixture(tmp_path, [(1,) + (0,) * 9] * 3, usages=["Training", "Training", "PublicTest"])
    text = (tmp_path / "fer2013new.csv").read_text().replace("PublicTest", "Training")
    (tmp_path / "fer2013new.csv").write_text(text)
    with pytest.raises(DataFormatError, match=r"fer2013new\.csv, line 4: Usage 'Training' does not match"):
        load(tmp_path, labels="ferplus")
    lines = (tmp_path / "fer2013new.csv").read_text().splitlines()
    lines[3] = lines[3].replace("Training", "PublicTest")
    lines[2] = lines[2].replace(",1,0,", ",x,0,", 1)
    (tmp_path / "fer2013new.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r"fer2013new\.csv, line 3: vote count 'x' in column 'neutral'"):
        load(tmp_path, labels="ferplus")
    (tmp_path / "fer2013new.csv").write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(DataFormatError, match="has 1 data rows but"):
        load(tmp_path, labels="ferplus")


def test_ferplus_missing_file_and_wrong_layout(tmp_path):
    write_csv(tmp_path / "fer2013.csv", standard_rows())
    with pytest.raises(MissingDataError, match=r"fer2013new\.csv.*microsoft/FERPlus"):
        load(tmp_path, labels="ferplus")
    with pytest.raises(ConfigError, match="data.labels"):
        load(tmp_path, labels="ferplus", format="folders")
    with pytest.raises(ConfigError, match=r"data\.labels='ferplus'.*allowed values: default"):
        load_dataset("rafdb", tmp_path, image_size=48, channels=1, labels="ferplus")


# ------------------------------------------------------------------------------------------------ folders


def save_image(path: Path, value: int, size: int = 48, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, value, value)
    Image.new(mode, (size, size), color).save(path)


def test_folders_map_class_names_not_alphabetical_order(tmp_path):
    # Only two classes present: alphabetical indices would give 0 and 1; names give neutral=6, angry=0.
    save_image(tmp_path / "train" / "neutral" / "a.png", 60)
    save_image(tmp_path / "train" / "neutral" / "b.jpg", 61)
    save_image(tmp_path / "train" / "Angry" / "c.png", 10)
    save_image(tmp_path / "test" / "happiness" / "d.PNG", 30)
    save_image(tmp_path / "test" / "surprised" / "e.jpeg", 50, size=64, mode="RGB")
    assert detect_format("fer2013", tmp_path) == "folders"
    ds = load(tmp_path)
    assert sorted(ds.splits["train"].labels.tolist()) == [0, 6, 6]
    assert ds.splits["test"].labels.tolist() == [3, 5]
    assert ds.splits["test"].images.shape == (2, 1, 48, 48)
    assert int(ds.splits["train"].images[ds.splits["train"].labels == 0].max()) == 10


def test_images_train_validation_layout(tmp_path):
    save_image(tmp_path / "images" / "train" / "fear" / "a.png", 1)
    save_image(tmp_path / "images" / "validation" / "sad" / "b.png", 2)
    ds = load(tmp_path, format="folders", channels=3, image_size=32)
    assert ds.splits["train"].labels.tolist() == [2]
    assert ds.splits["test"].labels.tolist() == [4]  # 'validation' is what this layout's users test on
    assert "val" not in ds.splits
    assert ds.splits["test"].images.shape == (1, 3, 32, 32)


def test_unknown_class_folder(tmp_path):
    save_image(tmp_path / "train" / "happy" / "a.png", 1)
    save_image(tmp_path / "train" / "bored" / "b.png", 2)
    with pytest.raises(DataFormatError) as info:
        load(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "train" / "bored") in message and "allowed class folder names" in message
    assert "neutral" in message
    with pytest.warns(UserWarning, match="skipped 1 bad"):
        ds = load(tmp_path, on_bad_rows="skip")
    assert ds.splits["train"].labels.tolist() == [3] and ds.dropped == {"bad_rows": 1}


def test_corrupt_image_and_stray_files(tmp_path):
    save_image(tmp_path / "train" / "happy" / "a.png", 1)
    (tmp_path / "train" / "happy" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "train" / "happy" / "notes.txt").write_text("hi")
    (tmp_path / "train" / "happy" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(DataFormatError, match=r"broken\.jpg: cannot decode image"), pytest.warns(UserWarning):
        load(tmp_path)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ds = load(tmp_path, on_bad_rows="skip")
    messages = " | ".join(str(w.message) for w in record)
    assert "notes.txt" in messages and "skipped 1 bad" in messages
    assert ds.dropped == {"bad_rows": 1, "non_image_files": 1}
    assert len(ds.splits["train"]) == 1


# ------------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"format": "parquet"}, "data.format"),
        ({"on_bad_rows": "ignore"}, "data.on_bad_rows"),
        ({"labels": "soft"}, "data.labels"),
        ({"channels": 2}, "data.channels"),
        ({"image_size": 0}, "data.image_size"),
        ({"num_classes": 6}, "data.num_classes"),
    ],
)
def test_config_errors_name_key_and_allowed(tmp_path, kwargs, key):
    with pytest.raises(ConfigError, match=key):
        load(tmp_path, **kwargs)


def test_unknown_dataset_and_formats_table(tmp_path):
    with pytest.raises(
        ConfigError, match=r"data\.dataset='ckplus'.*allowed values: fer2013, rafdb, affectnet"
    ):
        load_dataset("ckplus", tmp_path, image_size=48, channels=1)
    with pytest.raises(ConfigError, match=r"allowed values: auto, csv, folders"):
        load(tmp_path, format="list")
    assert FORMATS == {
        "fer2013": ("csv", "folders"),
        "rafdb": ("list", "folders"),
        "affectnet": ("csv", "npy"),
    }


# ---------------------------------------------------------------------------------------------- real data


@pytest.mark.real_data
def test_real_fer2013_counts():
    if not REAL_FER2013.is_file():
        pytest.skip(f"real FER2013 not available at {REAL_FER2013}")
    ds = load(REAL_FER2013.parent)
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 28709, "val": 3589}
    assert ds.dropped == {}
    counts = torch.bincount(ds.splits["train"].labels, minlength=7).tolist()
    assert counts == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    images = torch.cat([s.images.flatten(1) for s in ds.splits.values()])
    assert int((images.max(dim=1).values == 0).sum()) == 12
