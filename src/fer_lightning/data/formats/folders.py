"""Class-per-folder layouts (split/<class>/<image>): scanning with every skipped entry accounted for."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fer_lightning.data.arrays import LoadedDataset
from fer_lightning.data.formats.common import BadRows, ReadOptions, contempt_mask, loaded, make_split
from fer_lightning.data.formats.image_decoding import IMAGE_EXTENSIONS, Box, is_image_file, load_images


def scan_split_dir(
    split_dir: Path,
    class_of: Callable[[str], int | None],
    allowed: str,
    bad: BadRows,
) -> tuple[list[tuple[Path, int]], Counter[str]]:
    """List (image path, canonical label) under split_dir/<class>/ and count the non-image files left out.

    Unknown class folders are bad input (reported to `bad`).
    """
    items: list[tuple[Path, int]] = []
    stray: list[Path] = []
    for entry in sorted(split_dir.iterdir()):
        if entry.name.startswith("."):
            continue  # .DS_Store and friends are filesystem noise, not data
        if not entry.is_dir():
            stray.append(entry)
            continue
        label = class_of(entry.name)
        files = sorted(p for p in entry.iterdir() if not p.name.startswith("."))
        if label is None:
            problem = f"unknown class folder {entry.name!r}; allowed class folder names: {allowed}"
            if bad.mode != "skip" or not files:
                bad.report(entry, None, problem)
            for f in files:
                bad.report(f, None, f"in {problem}")
            continue
        for f in files:
            if is_image_file(f):
                items.append((f, label))
            else:
                stray.append(f)
    if stray:
        shown = ", ".join(str(p) for p in stray[:3]) + (" ..." if len(stray) > 3 else "")
        warnings.warn(
            f"{split_dir}: ignored {len(stray)} entr(y/ies) that are not images inside a class folder "
            f"(extensions {', '.join(IMAGE_EXTENSIONS)}): {shown}",
            stacklevel=4,
        )
    return items, Counter(non_image_files=len(stray))


def decode_rows(
    paths: list[Path],
    labels: np.ndarray,
    opts: ReadOptions,
    on_failure: Callable[[int, str], None],
    boxes: list[Box] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Counter[str]]:
    """Decode the rows, dropping contempt when num_classes=7: images, labels, kept row indices, drop counts.

    `on_failure(row, message)` is called for each unreadable image, in row order; it raises or records.
    """
    keep = contempt_mask(labels, opts.num_classes)
    rows = np.flatnonzero(keep)
    images, failures = load_images(
        [paths[i] for i in rows],
        opts.image_size,
        opts.channels,
        [boxes[i] for i in rows] if boxes else None,
        workers=opts.decode_workers,
        sink=opts.sink,
    )
    for j, message in failures.items():
        on_failure(int(rows[j]), message)
    ok = np.ones(len(rows), dtype=bool)
    ok[list(failures)] = False
    return images, labels[rows[ok]], rows[ok], Counter(contempt_excluded=int((~keep).sum()))


def load_folder_split(
    items: list[tuple[Path, int]], opts: ReadOptions, bad: BadRows
) -> tuple[np.ndarray, np.ndarray, Counter[str]]:
    """Decode scanned (path, label) items into images, labels, drop counts; unreadable files go to `bad` by name."""
    paths = [p for p, _ in items]
    labels = np.array([label for _, label in items], dtype=np.int64)
    images, labels, _, drops = decode_rows(
        paths, labels, opts, lambda i, msg: bad.report_message(paths[i], msg)
    )
    return images, labels, drops


def read_class_folders(
    split_dirs: list[tuple[str, Path]],
    class_of: Callable[[str], int | None],
    allowed: str,
    opts: ReadOptions,
    bad: BadRows,
    source: str,
) -> LoadedDataset:
    """Read each (split, split_dir/<class>/<image>) folder; drop counts are the non-image files and contempt."""
    out = {}
    drops: Counter[str] = Counter()
    for split, split_dir in split_dirs:
        items, skipped = scan_split_dir(split_dir, class_of, allowed, bad)
        images, labels, excluded = load_folder_split(items, opts, bad)
        out[split] = make_split(images, labels)
        drops += skipped + excluded
    return loaded(out, drops, source)
