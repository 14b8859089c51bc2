"""On-disk format readers for FER2013 (+FER+ labels), RAF-DB and AffectNet, behind one load_dataset() call.

Every reader returns the splits its layout has ('train', 'val', 'test'; no 'val' when the layout has none, so
the caller carves one with stratified_split), images as uint8 [N, C, S, S] and labels in the canonical space of
fer_lightning.labels. Rows left out are counted by reason in LoadedDataset.dropped; nothing is dropped
silently.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fer_lightning.data.arrays import LoadedDataset
from fer_lightning.data.formats import affectnet, fer2013, rafdb
from fer_lightning.data.formats.common import BadRows, ReadOptions
from fer_lightning.data.formats.splits import stratified_kfold, stratified_split
from fer_lightning.errors import ConfigError, MissingDataError

FORMATS: dict[str, tuple[str, ...]] = {
    "fer2013": ("csv", "folders"),
    "rafdb": ("list", "folders"),
    "affectnet": ("csv", "npy"),
}
ON_BAD_ROWS = ("error", "skip")
LABELS: dict[str, tuple[str, ...]] = {
    "fer2013": ("default", "ferplus"),
    "rafdb": ("default",),
    "affectnet": ("default",),
}

Reader = Callable[[Path, ReadOptions, BadRows, dict[str, int]], LoadedDataset]
_READERS: dict[tuple[str, str], Reader] = {
    ("fer2013", "csv"): fer2013.read_csv,
    ("fer2013", "folders"): fer2013.read_folders,
    ("rafdb", "list"): rafdb.read_list,
    ("rafdb", "folders"): rafdb.read_folders,
    ("affectnet", "csv"): affectnet.read_csv,
    ("affectnet", "npy"): affectnet.read_npy,
}
_MISSING: dict[str, Callable[[Path, str], str]] = {
    "fer2013": fer2013.missing_message,
    "rafdb": rafdb.missing_message,
    "affectnet": affectnet.missing_message,
}


def _check_choice(key: str, value: object, allowed: tuple[str, ...], note: str = "") -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not supported{note}; allowed values: {', '.join(allowed)}")


def _check_dataset(dataset: str) -> None:
    _check_choice(
        "data.dataset", dataset, tuple(FORMATS), " by the format readers (data=synthetic needs no files)"
    )


def detect_format(dataset: str, root: Path) -> str:
    """Name the on-disk format found under root for `dataset`; MissingDataError says what was looked for."""
    _check_dataset(dataset)
    root = Path(root).expanduser()
    if not root.is_dir():
        what = (
            f"Dataset root {root} does not exist"
            if not root.exists()
            else f"Dataset root {root} is not a folder"
        )
        raise MissingDataError(_MISSING[dataset](root, what))
    found = None
    if dataset == "fer2013":
        found = "csv" if fer2013.find_csv(root) else "folders" if fer2013.folder_layout(root) else None
    elif dataset == "rafdb":
        found = "list" if rafdb.list_base(root) else "folders" if rafdb.folders_base(root) else None
    elif dataset == "affectnet":
        if (root / affectnet.LISTS_DIR).is_dir():
            found = "csv"
        elif (root / "train_set").is_dir():
            found = "npy"
    if found is None:
        raise MissingDataError(_MISSING[dataset](root, f"No {dataset} files found under {root}"))
    return found


def load_dataset(
    dataset: str,
    root: str | Path,
    *,
    format: str = "auto",
    image_size: int,
    channels: int,
    on_bad_rows: str = "error",
    labels: str = "default",
    num_classes: int | None = None,
    decode_workers: int | None = None,
    sink: object | None = None,
) -> LoadedDataset:
    """Read `dataset` from `root` into memory: resized uint8 images, canonical labels, drop counts by reason.

    format: 'auto' (detect_format) or one of FORMATS[dataset]. on_bad_rows: 'error' raises DataFormatError
    naming the file and line of the first bad row; 'skip' leaves bad rows out with one warning per file and
    counts them in dropped['bad_rows']. labels='ferplus' (fer2013 only) relabels with FER+ majority votes
    (8 classes). num_classes=7 leaves contempt out (counted in dropped['contempt_excluded']); 8 or None keep it.
    Image files decode in `decode_workers` processes (None: every core); with a `sink` (the cache being built)
    the decoded images are written to disk as they come, and the returned splits are read back from it.
    """
    _check_dataset(dataset)
    _check_choice("data.format", format, ("auto", *FORMATS[dataset]), f" for data.dataset={dataset}")
    _check_choice("data.on_bad_rows", on_bad_rows, ON_BAD_ROWS)
    _check_choice("data.labels", labels, LABELS[dataset], f" for data.dataset={dataset}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ConfigError(f"data.image_size={image_size!r} must be a positive integer (pixels per side)")
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ConfigError(
            f"data.channels={channels!r} is not supported; allowed values: 1 (grayscale), 3 (RGB)"
        )
    if num_classes not in (None, 7, 8) or isinstance(num_classes, bool):
        raise ConfigError(
            f"data.num_classes={num_classes!r} is not supported; allowed values: 7 (no contempt), 8, null"
        )
    if labels == "ferplus" and format == "folders":
        raise ConfigError(
            "data.labels=ferplus needs data.format=csv (FER+ votes align with fer2013.csv rows)"
        )
    path = Path(root).expanduser()
    chosen = detect_format(dataset, path) if format == "auto" else format
    if not path.is_dir():
        raise MissingDataError(_MISSING[dataset](path, f"Dataset root {path} does not exist"))
    if labels == "ferplus" and chosen != "csv":
        raise ConfigError(
            f"data.labels=ferplus needs the FER2013 CSV (format=csv), but {path} holds the {chosen} layout"
        )
    opts = ReadOptions(image_size, channels, on_bad_rows, labels, num_classes, decode_workers, sink)
    bad = BadRows(on_bad_rows)
    dropped: dict[str, int] = {}
    result = _READERS[(dataset, chosen)](path, opts, bad, dropped)
    bad.finish(result.dropped)
    return result


__all__ = ["FORMATS", "detect_format", "load_dataset", "stratified_kfold", "stratified_split"]
