"""FER2013 readers: the Kaggle CSVs (optionally relabelled with FER+ votes) and the Kaggle folder layouts."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from fer_lightning.data.arrays import LoadedDataset
from fer_lightning.data.formats.common import (
    BadRows,
    ReadOptions,
    contempt_mask,
    loaded,
    make_split,
    small_int,
)
from fer_lightning.data.formats.csv_reader import Table, read_table
from fer_lightning.data.formats.folders import read_class_folders
from fer_lightning.data.formats.image_decoding import gray_to_channels, resize_gray
from fer_lightning.data.formats.source import DatasetSource, Layout
from fer_lightning.errors import DataFormatError, MissingDataError
from fer_lightning.labels import CLASS_ALIASES, FER2013_CLASSES, canonical_index

SIDE = 48
PIXELS = SIDE * SIDE
# Priority order when several are present: the full file with Usage first, Kaggle's train.csv last.
CSV_NAMES = ("fer2013.csv", "fer2013.csv.gz", "icml_face_data.csv", "train.csv")
SUBDIRS = (".", "fer2013")
USAGE_SPLITS = {"training": "train", "publictest": "val", "privatetest": "test"}
KAGGLE_NAME = "challenges-in-representation-learning-facial-expression-recognition-challenge"
FERPLUS_FILE = "fer2013new.csv"
# FER+ vote columns in the order of the canonical label space (0 angry ... 7 contempt).
FERPLUS_VOTES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral", "contempt")
EMOTION_HELP = "an integer 0-6 (" + ", ".join(f"{i} {n}" for i, n in enumerate(FER2013_CLASSES)) + ")"


def _peek_header(path: Path) -> str:
    try:
        with path.open("rb") as f:
            return f.readline(4096).decode("utf-8", "replace").lower()
    except OSError:
        return ""


def find_csv(root: Path) -> Path | None:
    """The FER2013 CSV under root (or root/fer2013), by CSV_NAMES priority; train.csv only if it has pixels."""
    for name in CSV_NAMES:
        for sub in SUBDIRS:
            path = root / sub / name if sub != "." else root / name
            if path.is_file() and (name != "train.csv" or "pixels" in _peek_header(path)):
                return path
    return None


def folder_layout(root: Path) -> list[tuple[str, Path]] | None:
    """Split dirs of a Kaggle folder layout: train/ + test/, or images/train/ + images/validation/ (-> test)."""
    base = root / "images" if (root / "images" / "train").is_dir() else root
    if not (base / "train").is_dir():
        return None
    layout = [("train", base / "train")]
    for name in ("test", "validation"):
        if (base / name).is_dir():
            layout.append(("test", base / name))
            break
    return layout


def missing_message(root: Path, what: str) -> str:
    """Explain where FER2013 was expected, how to obtain it and how to run without it."""
    expected = [root / n for n in CSV_NAMES] + [root / "fer2013" / "fer2013.csv"]
    return (
        f"{what}. Expected one of: {', '.join(str(p) for p in expected)}; or the Kaggle folder layout "
        f"{root / 'train'}/<class>/*.jpg + {root / 'test'}/<class>/*.jpg. To obtain FER2013, download fer2013.csv "
        f"from the Kaggle competition '{KAGGLE_NAME}' (https://www.kaggle.com/c/{KAGGLE_NAME}/data) and place "
        f"it under {root} (set data.root to another folder if you keep it elsewhere); to run without any "
        "dataset files use data=synthetic."
    )


# --------------------------------------------------------------------------------------------- pixel strings

_NON_PIXEL_BYTES = b"0123456789 "  # deleted by translate(); anything left over rules out the fast path
_CHUNK_ROWS = 2048  # bounds the int64 scratch array (about 38 MB) while keeping numpy calls few


def _bulk_parse(fields: list[bytes], count: int) -> np.ndarray | None:
    """Parse rows at C speed when it provably cannot misread them; None means 'look at each row'.

    With only ASCII digits and spaces, and exactly count-1 spaces per row, a row holds at most `count`
    numbers (empty tokens from doubled spaces only lose numbers), so the total equals len(fields) * count
    exactly when every row is complete. Parsing into int64 saturates huge tokens instead of wrapping them,
    so the caller's range check catches them.
    """
    if not fields or any(f.count(b" ") != count - 1 for f in fields):
        return None
    blob = b" ".join(fields)
    if blob.translate(None, _NON_PIXEL_BYTES):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # older numpy warns (instead of raising) on unparsable text
            values = np.fromstring(blob, dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        return None
    return values.reshape(len(fields), count) if values.size == len(fields) * count else None


def _parse_row(field: bytes, count: int) -> np.ndarray | str:
    tokens = field.split()
    if len(tokens) != count:
        return f"expected {count} space-separated pixel values ({SIDE}x{SIDE}), got {len(tokens)}"
    for token in tokens:
        if not token.isdigit():  # bytes.isdigit is ASCII-only, so no exotic digits or signs slip through
            shown = token.decode("utf-8", "replace")[:20]
            return f"pixel value {shown!r} is not an integer 0-255"
    values = np.array([int(t) for t in tokens], dtype=np.int64)
    if values.max() > 255:
        return f"pixel value {int(values.max())} is out of range 0-255"
    return values


def parse_pixels(fields: list[bytes], count: int = PIXELS) -> tuple[np.ndarray, dict[int, str]]:
    """Parse space-separated pixel strings into uint8 [N, count]; returns {row: problem} for bad rows.

    Rows are vetted and parsed in bulk chunks; only a chunk that fails is examined row by row, and only a row
    that fails that is parsed token by token (which also accepts tabs or repeated spaces).
    """
    out = np.zeros((len(fields), count), dtype=np.uint8)
    problems: dict[int, str] = {}

    def store(row: int, values: np.ndarray) -> None:
        if values.min() < 0 or values.max() > 255:
            problems[row] = f"pixel value {int(values.max())} is out of range 0-255"
        else:
            out[row] = values

    for start in range(0, len(fields), _CHUNK_ROWS):
        chunk = fields[start : start + _CHUNK_ROWS]
        values = _bulk_parse(chunk, count)
        if values is not None and values.min() >= 0 and values.max() <= 255:
            out[start : start + len(chunk)] = values
            continue
        for offset, field in enumerate(chunk):
            row_values = _bulk_parse([field], count)
            parsed = row_values[0] if row_values is not None else _parse_row(field, count)
            if isinstance(parsed, str):
                problems[start + offset] = parsed
            else:
                store(start + offset, parsed)
    return out, problems


def _show(field: bytes) -> str:
    return repr(field.decode("utf-8", "replace").strip()[:40])


# ------------------------------------------------------------------------------------------------ CSV reader


def _ferplus_path(csv_path: Path, root: Path) -> Path:
    for folder in (csv_path.parent, root, root / "FERPlus"):
        if (folder / FERPLUS_FILE).is_file():
            return folder / FERPLUS_FILE
    raise MissingDataError(
        f"labels=ferplus needs {csv_path.parent / FERPLUS_FILE} (FER+ votes, rows aligned with {csv_path.name}); "
        f"get fer2013new.csv from https://github.com/microsoft/FERPlus and place it beside {csv_path}, "
        "or use data.labels=default"
    )


def _ferplus_labels(
    table: Table, fer: Table, usage_col: int | None, problems: dict[int, tuple[Path, int, str]]
) -> tuple[np.ndarray, np.ndarray]:
    """Majority-vote labels from the FER+ votes, and per-row drop reasons ('' keeps the row).

    The label is the emotion with the most votes; ties go to the lowest canonical index. A row is dropped when
    'NF' (not a face) or 'unknown' has at least as many votes as the top emotion (NF wins over unknown), or
    when nobody voted.
    """
    n = len(fer.rows)
    if len(table.rows) < n:
        raise DataFormatError(
            f"{table.path}: has {len(table.rows)} data rows but {fer.path} has {n}; FER+ rows must align "
            f"one-to-one (in order) with {fer.path.name}"
        )
    if len(table.rows) > n:
        warnings.warn(
            f"{table.path}: {len(table.rows) - n} trailing FER+ row(s) have no counterpart in {fer.path} "
            "(a FER2013 copy without its last rows) and are ignored",
            stacklevel=4,
        )
    columns = table.require("usage", *FERPLUS_VOTES, "unknown", "nf")
    fp_usage, vote_cols, unknown_col, nf_col = columns[0], columns[1:9], columns[9], columns[10]
    votes = np.zeros((n, 10), dtype=np.int64)
    for i in range(n):
        row = table.rows[i]
        if i in problems:
            continue
        if row is None:
            problems[i] = (table.path, table.lines[i], table.row_errors[i])
            continue
        if usage_col is not None:
            theirs, ours = row[fp_usage].strip().lower(), fer.rows[i][usage_col].strip().lower()  # type: ignore[index]
            if theirs != ours:
                problems[i] = (
                    table.path,
                    table.lines[i],
                    f"Usage {_show(row[fp_usage])} does not match {_show(fer.rows[i][usage_col])} on line "  # type: ignore[index]
                    f"{fer.lines[i]} of {fer.path}; FER+ rows must align one-to-one with {fer.path.name}",
                )
                continue
        for j, col in enumerate((*vote_cols, unknown_col, nf_col)):
            value = small_int(row[col])
            if value is None:
                problems[i] = (
                    table.path,
                    table.lines[i],
                    f"vote count {_show(row[col])} in column {table.header[col].strip()!r} is not a "
                    "non-negative integer (at most 10^9)",
                )
                break
            votes[i, j] = value
    emotions = votes[:, :8]
    top = emotions.max(axis=1)
    # Ties between emotions go to the lowest canonical index (np.argmax returns the first maximum).
    labels = emotions.argmax(axis=1)
    reasons = np.full(n, "", dtype=object)
    reasons[top == 0] = "ferplus_no_votes"
    reasons[(votes[:, 8] >= top) & (votes[:, 8] > 0)] = "ferplus_unknown"
    reasons[(votes[:, 9] >= top) & (votes[:, 9] > 0)] = "ferplus_not_face"
    return labels, reasons


def read_csv(root: Path, opts: ReadOptions, bad: BadRows) -> LoadedDataset:
    """Read fer2013.csv / icml_face_data.csv / Kaggle train.csv (Usage -> train/val/test)."""
    path = find_csv(root)
    if path is None:
        raise MissingDataError(missing_message(root, f"No FER2013 CSV found under {root}"))
    table = read_table(path)
    emotion_col, pixel_col = table.require("emotion", "pixels")
    usage_col = table.column("usage")
    if usage_col is None and opts.labels == "ferplus":
        raise DataFormatError(
            f"{path}, line 1: labels=ferplus needs a CSV with a Usage column (fer2013.csv) to align with "
            f"{FERPLUS_FILE}; found columns {', '.join(h.strip() for h in table.header)}"
        )
    if usage_col is None:
        warnings.warn(
            f"{path}: no Usage column, so every row is training data: a seeded data.val_fraction of it "
            "validates and there is no labelled test split (fer2013.csv with Usage gives "
            "Training/PublicTest/PrivateTest)",
            stacklevel=2,
        )
    n = len(table.rows)
    problems: dict[int, tuple[Path, int, str]] = {
        i: (path, table.lines[i], msg) for i, msg in table.row_errors.items()
    }
    labels = np.zeros(n, dtype=np.int64)
    splits = np.full(n, "train", dtype=object)
    for i, row in enumerate(table.rows):
        if row is None:
            continue
        label = small_int(row[emotion_col])
        if label is None or label >= len(FER2013_CLASSES):
            problems[i] = (path, table.lines[i], f"emotion {_show(row[emotion_col])} must be {EMOTION_HELP}")
            continue
        labels[i] = label
        if usage_col is not None:
            usage = row[usage_col].strip().decode("utf-8", "replace")
            if usage.lower() not in USAGE_SPLITS:
                problems[i] = (
                    path,
                    table.lines[i],
                    f"Usage {usage[:40]!r} must be Training, PublicTest or PrivateTest",
                )
                continue
            splits[i] = USAGE_SPLITS[usage.lower()]
    candidates = [i for i in range(n) if i not in problems]
    fields = [table.rows[i][pixel_col] for i in candidates]  # type: ignore[index]
    pixels, pixel_problems = parse_pixels(fields)
    del fields
    for j, msg in pixel_problems.items():
        i = candidates[j]
        problems[i] = (path, table.lines[i], msg)

    reasons = np.full(n, "", dtype=object)
    if opts.labels == "ferplus":
        fp_table = read_table(_ferplus_path(path, root))
        fp_labels, reasons = _ferplus_labels(fp_table, table, usage_col, problems)
        labels = fp_labels

    for i in sorted(problems):
        bad.report(*problems[i])
    good = np.ones(n, dtype=bool)
    good[list(problems)] = False
    keep = good.copy()
    drops: Counter[str] = Counter()
    for reason in sorted(set(reasons[good].tolist()) - {""}):
        hit = good & (reasons == reason)
        drops[reason] += int(hit.sum())
        keep &= ~hit
    excluded = keep & ~contempt_mask(labels, opts.num_classes)
    drops["contempt_excluded"] += int(excluded.sum())
    keep &= ~excluded

    # pixels holds only the candidate rows; map kept rows of the table onto it.
    position = np.full(n, -1, dtype=np.int64)
    position[candidates] = np.arange(len(candidates))
    out = {}
    for name in ("train", "val", "test"):
        rows = np.flatnonzero(keep & (splits == name))
        gray = pixels[position[rows]].reshape(-1, SIDE, SIDE)
        images = gray_to_channels(resize_gray(gray, opts.image_size), opts.channels)
        out[name] = make_split(images, labels[rows])
    return loaded(out, drops, f"fer2013:csv:{path}")


# -------------------------------------------------------------------------------------------- folder reader


def _class_of(name: str) -> int | None:
    try:
        return canonical_index(name)
    except KeyError:
        return None


def read_folders(root: Path, opts: ReadOptions, bad: BadRows) -> LoadedDataset:
    """Read train/<class>/ + test/<class>/ or images/train|validation/<class>/ (class folders by name)."""
    layout = folder_layout(root)
    if layout is None:
        raise MissingDataError(
            missing_message(root, f"No FER2013 folder layout (train/<class>/) under {root}")
        )
    allowed = ", ".join(sorted(CLASS_ALIASES))
    return read_class_folders(layout, _class_of, allowed, opts, bad, f"fer2013:folders:{layout[0][1].parent}")


SOURCE = DatasetSource(
    "fer2013",
    (Layout("csv", find_csv, read_csv), Layout("folders", folder_layout, read_folders)),
    missing_message,
    labels=("default", "ferplus"),
)
