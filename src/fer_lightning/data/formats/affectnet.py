"""AffectNet readers: the Manually_Annotated CSV lists (faces cropped by box) and the train_set/val_set npy layout."""

from __future__ import annotations

import math
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from fer_lightning.data.arrays import LoadedDataset, Split
from fer_lightning.data.formats.common import BadRows, ReadOptions, loaded, make_split, small_int
from fer_lightning.data.formats.csv_reader import read_table
from fer_lightning.data.formats.folders import decode_rows
from fer_lightning.data.formats.image_decoding import Box, is_image_file
from fer_lightning.data.formats.source import DatasetSource, Layout
from fer_lightning.errors import DataFormatError, MissingDataError
from fer_lightning.labels import canonical_index

LISTS_DIR = "Manually_Annotated_file_lists"
IMAGES_DIR = "Manually_Annotated_Images"
# The official validation set is the test split; the caller carves val from train.
CSV_SPLITS = (("train", "training.csv"), ("test", "validation.csv"))
NPY_SPLITS = (("train", "train_set"), ("test", "val_set"))
HEADER = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)
# Expression codes 0..7 in AffectNet's order; 8..10 carry no usable expression and are dropped by reason.
AFFECTNET_NAMES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry", "contempt")
AFFECTNET_CODES = {code: canonical_index(name) for code, name in enumerate(AFFECTNET_NAMES)}
DROP_CODES = {8: "affectnet_code_8_none", 9: "affectnet_code_9_uncertain", 10: "affectnet_code_10_no_face"}
CODE_HELP = (
    "an integer 0-10 ("
    + ", ".join(f"{c} {n}" for c, n in enumerate(AFFECTNET_NAMES))
    + ", 8 none, 9 uncertain, 10 no-face)"
)


def missing_message(root: Path, what: str) -> str:
    """Explain the AffectNet layouts looked for and how to obtain the data."""
    return (
        f"{what}. Expected {root / LISTS_DIR}/training.csv + validation.csv with images under "
        f"{root / IMAGES_DIR}/ (format=csv), or {root}/train_set|val_set/images/<id>.jpg + "
        "annotations/<id>_exp.npy (format=npy). AffectNet is released by its owners on request "
        "(http://mohammadmahoor.com/affectnet/); extract it under data.root, or use data=synthetic to run "
        "without dataset files."
    )


def _code(text: str) -> int | None:
    code = small_int(text)
    return code if code is not None and code <= 10 else None


def _number(field: bytes) -> float | None:
    try:
        value = float(field.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _split_result(
    images: np.ndarray,
    labels: np.ndarray,
    kept: np.ndarray,
    valence: list[float] | None,
    arousal: list[float],
) -> Split:
    targets = {}
    if valence is not None:
        targets = {
            "valence": np.asarray(valence, dtype=np.float32)[kept],
            "arousal": np.asarray(arousal, dtype=np.float32)[kept],
        }
    return make_split(images, labels, targets)


def read_csv(root: Path, opts: ReadOptions, bad: BadRows) -> LoadedDataset:
    """Read Manually_Annotated_file_lists/training.csv (-> train) and validation.csv (-> test)."""
    lists = root / LISTS_DIR
    if not (lists / "training.csv").is_file():
        raise MissingDataError(missing_message(root, f"AffectNet list {lists / 'training.csv'} not found"))
    images_root = root / IMAGES_DIR
    if not images_root.is_dir():
        raise MissingDataError(missing_message(root, f"AffectNet image folder {images_root} not found"))
    out = {}
    drops: Counter[str] = Counter()
    for split, name in CSV_SPLITS:
        path = lists / name
        if not path.is_file():
            warnings.warn(f"{path} not found: AffectNet has no test split this run", stacklevel=3)
            continue
        out[split], split_drops = _read_csv_split(path, images_root, opts, bad)
        drops += split_drops
    return loaded(out, drops, f"affectnet:csv:{root}")


def _read_csv_split(
    path: Path, images_root: Path, opts: ReadOptions, bad: BadRows
) -> tuple[Split, Counter[str]]:
    table = read_table(path, header_marker=HEADER[0], default_header=HEADER)
    cols = table.require(
        HEADER[0], "face_x", "face_y", "face_width", "face_height", "expression", "valence", "arousal"
    )
    file_col, box_cols, expr_col, val_col, aro_col = cols[0], cols[1:5], cols[5], cols[6], cols[7]
    paths: list[Path] = []
    labels: list[int] = []
    boxes: list[Box] = []
    valence: list[float] = []
    arousal: list[float] = []
    lines: list[int] = []
    drops: Counter[str] = Counter()
    for i, row in enumerate(table.rows):
        line = table.lines[i]
        if row is None:
            bad.report(path, line, table.row_errors[i])
            continue
        text = row[expr_col].decode("utf-8", "replace")
        code = _code(text)
        if code is None:
            bad.report(path, line, f"expression {text.strip()[:20]!r} must be {CODE_HELP}")
            continue
        if code in DROP_CODES:
            drops[DROP_CODES[code]] += 1
            continue
        box = [_number(row[c]) for c in box_cols]
        if any(v is None for v in box):
            shown = ", ".join(row[c].decode("utf-8", "replace").strip()[:12] for c in box_cols)
            bad.report(path, line, f"face_x, face_y, face_width, face_height must be numbers, got {shown}")
            continue
        va = (_number(row[val_col]), _number(row[aro_col]))
        if va[0] is None or va[1] is None:
            bad.report(path, line, "valence and arousal must be finite numbers")
            continue
        relative = row[file_col].decode("utf-8", "replace").strip()
        image = images_root / relative
        if not relative or ".." in Path(relative).parts or not image.is_file():
            bad.report(path, line, f"image file {image} is missing", missing=True)
            continue
        paths.append(image)
        labels.append(AFFECTNET_CODES[code])
        boxes.append(tuple(box))  # type: ignore[arg-type]
        valence.append(va[0])
        arousal.append(va[1])
        lines.append(line)

    def failed(i: int, message: str) -> None:
        bad.report(path, lines[i], f"image {message}")

    images, kept_labels, kept, excluded = decode_rows(
        paths, np.array(labels, dtype=np.int64), opts, failed, boxes=boxes
    )
    return _split_result(images, kept_labels, kept, valence, arousal), drops + excluded


# ------------------------------------------------------------------------------------------------ npy layout


def _npy_text(path: Path) -> str:
    try:
        value = np.load(path, allow_pickle=False)
    except Exception as err:  # numpy raises ValueError/OSError/EOFError for damaged files
        raise DataFormatError(f"cannot read {path} ({type(err).__name__}: {err})") from err
    if value.size != 1:
        raise DataFormatError(f"{path} holds {value.size} values; expected a single value")
    item = value.reshape(()).item()
    if isinstance(item, float) and item.is_integer():
        item = int(item)  # numeric annotations (3.0) read like the usual string ones ('3')
    return item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)


def _id_key(stem: str) -> tuple[int, int, str]:
    return (0, int(stem), stem) if stem.isdigit() else (1, 0, stem)


def read_npy(root: Path, opts: ReadOptions, bad: BadRows) -> LoadedDataset:
    """Read train_set|val_set/images/<id>.jpg with annotations/<id>_exp.npy (+ optional _val/_aro.npy)."""
    if not (root / "train_set").is_dir():
        raise MissingDataError(missing_message(root, f"AffectNet folder {root / 'train_set'} not found"))
    out = {}
    drops: Counter[str] = Counter()
    for split, name in NPY_SPLITS:
        folder = root / name
        if not folder.is_dir():
            warnings.warn(f"{folder} not found: AffectNet has no test split this run", stacklevel=3)
            continue
        for sub in ("images", "annotations"):
            if not (folder / sub).is_dir():
                raise MissingDataError(missing_message(root, f"AffectNet folder {folder / sub} not found"))
        out[split], split_drops = _read_npy_split(folder, opts, bad)
        drops += split_drops
    return loaded(out, drops, f"affectnet:npy:{root}")


def _read_npy_split(folder: Path, opts: ReadOptions, bad: BadRows) -> tuple[Split, Counter[str]]:
    images_dir, notes = folder / "images", folder / "annotations"
    images = {p.stem: p for p in images_dir.iterdir() if is_image_file(p)}
    labelled = {p.name[: -len("_exp.npy")] for p in notes.glob("*_exp.npy")}
    with_targets = any(notes.glob("*_val.npy"))
    paths: list[Path] = []
    labels: list[int] = []
    valence: list[float] = []
    arousal: list[float] = []
    drops: Counter[str] = Counter()
    for stem in sorted(images.keys() | labelled, key=_id_key):
        exp = notes / f"{stem}_exp.npy"
        if stem not in images:
            bad.report(exp, None, f"no image {images_dir / stem}.jpg for this annotation", missing=True)
            continue
        if stem not in labelled:
            bad.report(images[stem], None, f"annotation {exp} is missing", missing=True)
            continue
        try:
            text = _npy_text(exp)
            code = _code(text)
            if code is None:
                raise DataFormatError(f"{exp}: expression {text.strip()[:20]!r} must be {CODE_HELP}")
            if code in DROP_CODES:
                drops[DROP_CODES[code]] += 1
                continue
            va = (0.0, 0.0)
            if with_targets:
                pair = [notes / f"{stem}_val.npy", notes / f"{stem}_aro.npy"]
                absent = [str(p) for p in pair if not p.is_file()]
                if absent:
                    raise DataFormatError(
                        f"{' and '.join(absent)} missing while other images have valence/arousal"
                    )
                parsed = [_number(_npy_text(p).encode("utf-8", "replace")) for p in pair]
                if parsed[0] is None or parsed[1] is None:
                    raise DataFormatError(
                        f"{pair[0]} / {pair[1]}: valence and arousal must be finite numbers"
                    )
                va = (parsed[0], parsed[1])
        except DataFormatError as err:
            bad.report_message(exp, str(err))
            continue
        paths.append(images[stem])
        labels.append(AFFECTNET_CODES[code])
        valence.append(va[0])
        arousal.append(va[1])

    def failed(i: int, message: str) -> None:
        bad.report_message(paths[i], message)

    decoded, kept_labels, kept, excluded = decode_rows(paths, np.array(labels, dtype=np.int64), opts, failed)
    return _split_result(
        decoded, kept_labels, kept, valence if with_targets else None, arousal
    ), drops + excluded


def _has_lists(root: Path) -> bool:
    return (root / LISTS_DIR).is_dir()


def _has_npy_sets(root: Path) -> bool:
    return (root / "train_set").is_dir()


SOURCE = DatasetSource(
    "affectnet",
    (Layout("csv", _has_lists, read_csv), Layout("npy", _has_npy_sets, read_npy)),
    missing_message,
)
