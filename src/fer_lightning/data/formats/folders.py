"""Class-per-folder layouts (split/<class>/<image>): scanning with every skipped entry accounted for."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fer_lightning.data.formats.common import BadRows, ReadOptions, add_dropped, contempt_mask
from fer_lightning.data.formats.image_decoding import IMAGE_EXTENSIONS, Box, is_image_file, load_images


def scan_split_dir(
    split_dir: Path,
    class_of: Callable[[str], int | None],
    allowed: str,
    bad: BadRows,
    dropped: dict[str, int],
) -> list[tuple[Path, int]]:
    """List (image path, canonical label) under split_dir/<class>/; unknown class folders are bad input."""
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
        add_dropped(dropped, "non_image_files", len(stray))
        shown = ", ".join(str(p) for p in stray[:3]) + (" ..." if len(stray) > 3 else "")
        warnings.warn(
            f"{split_dir}: ignored {len(stray)} entr(y/ies) that are not images inside a class folder "
            f"(extensions {', '.join(IMAGE_EXTENSIONS)}): {shown}",
            stacklevel=4,
        )
    return items


def decode_rows(
    paths: list[Path],
    labels: np.ndarray,
    opts: ReadOptions,
    dropped: dict[str, int],
    on_failure: Callable[[int, str], None],
    boxes: list[Box] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the rows (dropping contempt when num_classes=7); returns images, labels and kept row indices.

    `on_failure(row, message)` is called for each unreadable image, in row order; it raises or records.
    """
    keep = contempt_mask(labels, opts.num_classes)
    add_dropped(dropped, "contempt_excluded", int((~keep).sum()))
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
    return images, labels[rows[ok]], rows[ok]


def load_folder_split(
    items: list[tuple[Path, int]], opts: ReadOptions, bad: BadRows, dropped: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Decode scanned (path, label) items; unreadable files are reported to `bad` by file name."""
    paths = [p for p, _ in items]
    labels = np.array([label for _, label in items], dtype=np.int64)
    images, labels, _ = decode_rows(
        paths, labels, opts, dropped, lambda i, msg: bad.report_message(paths[i], msg)
    )
    return images, labels
