"""RAF-DB (basic) readers: the official label list with Image/aligned|original, and train|test/<1..7>/."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from fer_lightning.data.arrays import LoadedDataset
from fer_lightning.data.formats.common import BadRows, ReadOptions, loaded, make_split, small_int
from fer_lightning.data.formats.csv_reader import read_bytes
from fer_lightning.data.formats.folders import decode_rows, read_class_folders
from fer_lightning.data.formats.source import DatasetSource, Layout
from fer_lightning.errors import MissingDataError
from fer_lightning.labels import canonical_index

LIST_FILE = Path("EmoLabel") / "list_patition_label.txt"  # sic: the official file name is misspelt
# RAF-DB basic codes 1..7, in the order the dataset's README gives them.
RAF_NAMES = ("surprise", "fear", "disgust", "happy", "sad", "angry", "neutral")
RAF_CODES = {code: canonical_index(name) for code, name in enumerate(RAF_NAMES, start=1)}
CODE_HELP = "an integer 1-7 (" + ", ".join(f"{c} {n}" for c, n in enumerate(RAF_NAMES, start=1)) + ")"
PREFIX_SPLITS = {"train_": "train", "test_": "test"}


def list_base(root: Path) -> Path | None:
    """The folder holding EmoLabel/ (root itself or root/basic), or None."""
    return next((b for b in (root, root / "basic") if (b / LIST_FILE).is_file()), None)


def folders_base(root: Path) -> Path | None:
    """The folder holding train/<1..7>/ (root itself or root/DATASET as the Kaggle zip ships it), or None."""
    return next((b for b in (root, root / "DATASET") if (b / "train").is_dir()), None)


def missing_message(root: Path, what: str) -> str:
    """Explain the RAF-DB layouts looked for and how to obtain the data."""
    return (
        f"{what}. Expected {root / LIST_FILE} with {root / 'Image' / 'aligned'}/ (format=list), or "
        f"{root / 'train'}/<1..7>/*.jpg + {root / 'test'}/<1..7>/*.jpg, optionally under DATASET/ "
        "(format=folders). RAF-DB is released by its authors on request (http://www.whdeng.cn/raf/model1.html); "
        "extract the 'basic' part under data.root, or use data=synthetic to run without dataset files."
    )


def _code(text: str) -> int | None:
    code = small_int(text)
    return code if code in RAF_CODES else None


def read_list(root: Path, opts: ReadOptions, bad: BadRows) -> LoadedDataset:
    """Read EmoLabel/list_patition_label.txt ('train_00001.jpg 5') with Image/aligned (else Image/original)."""
    base = list_base(root)
    if base is None:
        raise MissingDataError(missing_message(root, f"RAF-DB label list not found under {root}"))
    list_path = base / LIST_FILE
    aligned, original = base / "Image" / "aligned", base / "Image" / "original"
    if not aligned.is_dir() and not original.is_dir():
        raise MissingDataError(
            f"{list_path} found but neither image folder {aligned} nor {original} exists; extract "
            "basic/Image/aligned.zip (preferred) or basic/Image/original.zip there"
        )
    items: dict[str, list[tuple[Path, int, int]]] = {"train": [], "test": []}
    for number, raw in enumerate(read_bytes(list_path).split(b"\n"), start=1):
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            continue
        tokens = text.split()
        if len(tokens) != 2:
            bad.report(
                list_path,
                number,
                f"expected '<image name> <label>' like 'train_00001.jpg 5', got {text[:60]!r}",
            )
            continue
        name, code_text = tokens
        split = next((s for prefix, s in PREFIX_SPLITS.items() if name.startswith(prefix)), None)
        if split is None or "/" in name or "\\" in name:
            bad.report(
                list_path,
                number,
                f"image name {name[:60]!r} must be a file name starting with train_ or test_",
            )
            continue
        code = _code(code_text)
        if code is None:
            bad.report(list_path, number, f"label {code_text[:20]!r} must be {CODE_HELP}")
            continue
        image = aligned / f"{Path(name).stem}_aligned.jpg" if aligned.is_dir() else original / name
        if not image.is_file():
            bad.report(list_path, number, f"image file {image} is missing", missing=True)
            continue
        items[split].append((image, RAF_CODES[code], number))
    out = {}
    drops: Counter[str] = Counter()
    for split, rows in items.items():
        images, labels, excluded = _decode(rows, list_path, opts, bad)
        out[split] = make_split(images, labels)
        drops += excluded
    return loaded(out, drops, f"rafdb:list:{list_path}")


def _decode(
    rows: list[tuple[Path, int, int]], list_path: Path, opts: ReadOptions, bad: BadRows
) -> tuple[np.ndarray, np.ndarray, Counter[str]]:
    def failed(i: int, message: str) -> None:
        bad.report(list_path, rows[i][2], f"image {message}")

    labels = np.array([label for _, label, _ in rows], dtype=np.int64)
    images, labels, _, drops = decode_rows([p for p, _, _ in rows], labels, opts, failed)
    return images, labels, drops


def _folder_class(name: str) -> int | None:
    code = _code(name)
    return RAF_CODES[code] if code is not None else None


def read_folders(root: Path, opts: ReadOptions, bad: BadRows) -> LoadedDataset:
    """Read train/<1..7>/*.jpg and test/<1..7>/*.jpg (folder digits are RAF-DB codes), also under DATASET/."""
    base = folders_base(root)
    if base is None:
        raise MissingDataError(missing_message(root, f"RAF-DB folders train/<1..7>/ not found under {root}"))
    split_dirs = [(split, base / split) for split in ("train", "test") if (base / split).is_dir()]
    return read_class_folders(split_dirs, _folder_class, CODE_HELP, opts, bad, f"rafdb:folders:{base}")


SOURCE = DatasetSource(
    "rafdb",
    (Layout("list", list_base, read_list), Layout("folders", folders_base, read_folders)),
    missing_message,
)
