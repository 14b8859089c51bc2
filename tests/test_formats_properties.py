"""Property-based checks: arbitrary malformed rows give a correct parse or DataFormatError, never a wrong label."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fer_lightning.data.formats import load_dataset, stratified_kfold, stratified_split
from fer_lightning.errors import ConfigError, DataFormatError

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ASCII_SPACE = " \t\x0b\x0c"  # what bytes.split() treats as whitespace inside one line
USAGES = {"training": "train", "publictest": "val", "privatetest": "test"}
# Text that cannot change the CSV's line or field structure, so the oracle knows each row's fields exactly.
FIELD_TEXT = st.text(st.characters(blacklist_characters=',"\n\r', blacklist_categories=("Cs",)), max_size=12)


def ascii_int(text: str) -> int | None:
    """The test's own reading of an integer field: ASCII digits with optional ASCII whitespace around."""
    s = text.strip(ASCII_SPACE)
    return int(s) if s and s.isascii() and s.isdigit() else None


# ------------------------------------------------------------------------------------------------ FER2013


@st.composite
def pixel_fields(draw, row_id: int) -> tuple[str, bool]:
    """A pixel string for a row whose first pixel is row_id, possibly broken; returns (text, is_valid)."""
    tokens = [str(row_id)] + [str((row_id * 31 + k) % 256) for k in range(1, 2304)]
    kind = draw(st.sampled_from(["ok", "ok", "drop", "add", "replace", "big", "spaces", "tabs"]))
    pos = draw(st.integers(1, 2302))
    if kind == "drop":
        del tokens[pos]
    elif kind == "add":
        tokens.insert(pos, draw(st.integers(0, 255)).__str__())
    elif kind == "replace":
        tokens[pos] = draw(FIELD_TEXT)
    elif kind == "big":
        tokens[pos] = str(draw(st.integers(256, 10**30)))
    separator = {"spaces": "  ", "tabs": "\t"}.get(kind, " ")
    text = separator.join(tokens)
    parts = text.encode().split()  # the oracle: ASCII-whitespace separated, 2304 ASCII integers 0-255
    valid = len(parts) == 2304 and all(p.isdigit() and int(p) <= 255 for p in parts)
    return text, valid


@st.composite
def fer_rows(draw):
    rows = []
    for row_id in range(draw(st.integers(1, 8))):
        emotion = draw(st.one_of(st.integers(0, 6).map(str), st.integers(7, 99).map(str), FIELD_TEXT))
        usage = draw(
            st.one_of(st.sampled_from(["Training", "PublicTest", "PrivateTest", " Training "]), FIELD_TEXT)
        )
        pixels, pixels_ok = draw(pixel_fields(row_id))
        label = ascii_int(emotion)
        split = USAGES.get(usage.strip(ASCII_SPACE).lower())
        valid = pixels_ok and label is not None and label <= 6 and split is not None
        rows.append((emotion, pixels, usage, valid, label, split, row_id))
    return rows


def expected_splits(rows) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    for _, _, _, valid, label, split, row_id in rows:
        if valid:
            out.setdefault(split, []).append((label, row_id))
    return out


def actual_splits(ds) -> dict[str, list[tuple[int, int]]]:
    return {
        name: list(zip(s.labels.tolist(), s.images[:, 0, 0, 0].tolist(), strict=True))
        for name, s in ds.splits.items()
    }


@SETTINGS
@given(fer_rows())
def test_fer2013_rows_parse_exactly_or_fail_at_first_bad_line(rows):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        text = "emotion,pixels,Usage\n" + "".join(f"{e},{p},{u}\n" for e, p, u, *_ in rows)
        (root / "fer2013.csv").write_text(text, encoding="utf-8")
        n_bad = sum(not r[3] for r in rows)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            skipped = load_dataset("fer2013", root, image_size=48, channels=1, on_bad_rows="skip")
        assert actual_splits(skipped) == expected_splits(rows)
        assert skipped.dropped == ({"bad_rows": n_bad} if n_bad else {})
        assert bool(record) == bool(n_bad)
        if n_bad:
            first_bad_line = 2 + next(i for i, r in enumerate(rows) if not r[3])
            with pytest.raises(DataFormatError, match=rf"fer2013\.csv, line {first_bad_line}:"):
                load_dataset("fer2013", root, image_size=48, channels=1)
        else:
            strict = load_dataset("fer2013", root, image_size=48, channels=1)
            assert actual_splits(strict) == expected_splits(rows)


@SETTINGS
@given(
    garbage=st.lists(
        st.one_of(st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))), max_size=4
    ),
    slots=st.lists(st.integers(0, 4), min_size=4, max_size=4),
)
def test_fer2013_arbitrary_garbage_lines_never_mislabel(garbage, slots):
    labels = [3, 0, 6, 5]
    lines = [f"{lab},{' '.join([str(i)] * 2304)},Training" for i, lab in enumerate(labels)]
    for text, slot in zip(garbage, slots, strict=False):
        lines.insert(slot, text)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "fer2013.csv").write_bytes(
            ("emotion,pixels,Usage\n" + "\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
        )
        for mode in ("error", "skip"):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ds = load_dataset("fer2013", root, image_size=48, channels=1, on_bad_rows=mode)
            except DataFormatError:
                continue
            for name, split in ds.splits.items():
                for label, first in zip(
                    split.labels.tolist(), split.images[:, 0, 0, 0].tolist(), strict=True
                ):
                    assert name == "train" and first < len(labels) and label == labels[first]


@SETTINGS
@given(st.binary(max_size=200))
def test_arbitrary_file_bytes_raise_only_data_format_errors(data):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "fer2013.csv").write_bytes(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = load_dataset("fer2013", root, image_size=48, channels=1, on_bad_rows="skip")
        except DataFormatError:
            return
        assert all(len(s) == 0 for s in ds.splits.values())


# ------------------------------------------------------------------------------------------------- RAF-DB

RAF_EXPECTED = {1: 5, 2: 2, 3: 1, 4: 3, 5: 4, 6: 0, 7: 6}


@st.composite
def raf_lines(draw):
    lines = []
    for i in range(draw(st.integers(1, 8))):
        split = draw(st.sampled_from(["train", "test"]))
        code = draw(st.one_of(st.integers(1, 7).map(str), st.integers(0, 20).map(str), FIELD_TEXT))
        kind = draw(st.sampled_from(["ok", "ok", "ok", "garbage", "no image"]))
        line = draw(FIELD_TEXT) if kind == "garbage" else f"{split}_{i:05d}.jpg {code}"
        lines.append((line, kind == "ok"))
    return lines


def raf_oracle(line: str, images: set[str]) -> tuple[str, int] | None:
    tokens = line.strip().split()
    if (
        len(tokens) != 2
        or not tokens[0].startswith(("train_", "test_"))
        or "/" in tokens[0]
        or "\\" in tokens[0]
    ):
        return None
    code = ascii_int(tokens[1])
    if code not in RAF_EXPECTED or tokens[0] not in images:
        return None
    return ("train" if tokens[0].startswith("train_") else "test"), RAF_EXPECTED[code]


@SETTINGS
@given(raf_lines())
def test_rafdb_label_lists_parse_exactly_or_fail_at_first_bad_line(lines):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        aligned = root / "Image" / "aligned"
        aligned.mkdir(parents=True)
        images = set()
        for line, has_image in lines:
            if has_image:
                name = line.split()[0]
                Image.new("RGB", (8, 8), (7, 7, 7)).save(aligned / f"{name[:-4]}_aligned.jpg")
                images.add(name)
        (root / "EmoLabel").mkdir()
        (root / "EmoLabel" / "list_patition_label.txt").write_text(
            "\n".join(line for line, _ in lines) + "\n"
        )
        verdicts = [raf_oracle(line, images) if line.strip() else "blank" for line, _ in lines]
        expected: dict[str, list[int]] = {}
        for v in verdicts:
            if isinstance(v, tuple):
                expected.setdefault(v[0], []).append(v[1])
        n_bad = sum(v is None for v in verdicts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = load_dataset("rafdb", root, image_size=8, channels=3, on_bad_rows="skip")
        assert {k: s.labels.tolist() for k, s in ds.splits.items()} == expected
        assert ds.dropped == ({"bad_rows": n_bad} if n_bad else {})
        if n_bad:
            first = 1 + verdicts.index(None)
            with pytest.raises(DataFormatError, match=rf"list_patition_label\.txt, line {first}:"):
                load_dataset("rafdb", root, image_size=8, channels=3)


# ---------------------------------------------------------------------------------------------- AffectNet

AFFECTNET_EXPECTED = {0: 6, 1: 3, 2: 4, 3: 5, 4: 2, 5: 1, 6: 0, 7: 7}
DROP_KEYS = {8: "affectnet_code_8_none", 9: "affectnet_code_9_uncertain", 10: "affectnet_code_10_no_face"}


@SETTINGS
@given(
    codes=st.lists(
        st.one_of(st.integers(0, 10).map(str), st.integers(11, 99).map(str), FIELD_TEXT), max_size=10
    ),
    num_classes=st.sampled_from([7, 8, None]),
)
def test_affectnet_expression_codes(codes, num_classes):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "Manually_Annotated_Images").mkdir()
        Image.new("RGB", (10, 10), (1, 2, 3)).save(root / "Manually_Annotated_Images" / "face.jpg")
        lists = root / "Manually_Annotated_file_lists"
        lists.mkdir()
        header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
        rows = [f"face.jpg,0,0,10,10,,{code},{i / 100},0" for i, code in enumerate(codes)]
        (lists / "training.csv").write_text("\n".join([header, *rows]) + "\n")
        (lists / "validation.csv").write_text(header + "\n")
        expected, valence, dropped, first_bad = [], [], {}, None
        for i, text in enumerate(codes):
            code = text.strip()
            code = int(code) if code.isascii() and code.isdigit() else None
            if code is None or code > 10:
                dropped["bad_rows"] = dropped.get("bad_rows", 0) + 1
                first_bad = first_bad or i + 2
            elif code in DROP_KEYS:
                dropped[DROP_KEYS[code]] = dropped.get(DROP_KEYS[code], 0) + 1
            elif code == 7 and num_classes == 7:
                dropped["contempt_excluded"] = dropped.get("contempt_excluded", 0) + 1
            else:
                expected.append(AFFECTNET_EXPECTED[code])
                valence.append(i / 100)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = load_dataset(
                "affectnet", root, image_size=4, channels=3, on_bad_rows="skip", num_classes=num_classes
            )
        got = ds.splits.get("train")
        assert (got.labels.tolist() if got is not None else []) == expected
        if got is not None:
            assert torch.allclose(got.targets["valence"], torch.tensor(valence, dtype=torch.float32))
        assert ds.dropped == dropped
        if first_bad is not None:
            with pytest.raises(DataFormatError, match=rf"training\.csv, line {first_bad}:"):
                load_dataset("affectnet", root, image_size=4, channels=3, num_classes=num_classes)


# ------------------------------------------------------------------------------------------------- splits


@SETTINGS
@given(
    labels=st.lists(st.integers(0, 7), min_size=1, max_size=300),
    fraction=st.floats(0.0, 0.9),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_split_partitions_and_stratifies(labels, fraction, seed):
    y = torch.tensor(labels)
    train, val = stratified_split(y, fraction, seed)
    assert torch.equal(torch.sort(torch.cat([train, val])).values, torch.arange(len(labels)))
    again = stratified_split(y, fraction, seed)
    assert torch.equal(train, again[0]) and torch.equal(val, again[1])
    counts = np.bincount(labels, minlength=8)
    val_counts = np.bincount(y[val].numpy(), minlength=8)
    for c in range(8):
        if counts[c] >= 2:
            assert val_counts[c] <= counts[c] - 1  # every class with 2+ rows keeps one for training
        assert abs(val_counts[c] - fraction * counts[c]) < 1.0 + 1e-9 or counts[c] < 2
    assert len(val) <= round(fraction * len(labels))


@SETTINGS
@given(
    labels=st.lists(st.integers(0, 7), min_size=2, max_size=300),
    folds=st.integers(2, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_kfold_partitions_rows_across_folds(labels, folds, seed):
    y = torch.tensor(labels)
    vals = [stratified_kfold(y, folds, k, seed)[1] for k in range(folds)]
    assert torch.equal(torch.sort(torch.cat(vals)).values, torch.arange(len(labels)))
    sizes = [len(v) for v in vals]
    assert max(sizes) - min(sizes) <= 1
    for c in set(labels):
        per_fold = [int((y[v] == c).sum()) for v in vals]
        assert max(per_fold) - min(per_fold) <= 1
    train, val = stratified_kfold(y, folds, 0, seed)
    assert not set(train.tolist()) & set(val.tolist())


def test_split_argument_errors():
    with pytest.raises(ConfigError, match="data.val_fraction"):
        stratified_split([0, 1], 1.0, 0)
    with pytest.raises(ConfigError, match="data.num_folds"):
        stratified_kfold([0, 1], 1, 0, 0)
    with pytest.raises(ConfigError, match="data.fold"):
        stratified_kfold([0, 1], 2, 2, 0)
