"""On-disk format readers for FER2013 (+FER+ labels), RAF-DB and AffectNet, behind one load_dataset() call.

Every reader returns the splits its layout has ('train', 'val', 'test'; no 'val' when the layout has none, so
the caller carves one with stratified_split), images as uint8 [N, C, S, S] and labels in the canonical space of
fer_lightning.labels. Rows left out are counted by reason in LoadedDataset.dropped; nothing is dropped
silently.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fer_lightning.config_checks import check_channels, check_choice, check_image_size, check_num_classes
from fer_lightning.data.arrays import LoadedDataset
from fer_lightning.data.formats import affectnet, fer2013, rafdb
from fer_lightning.data.formats.common import BadRows, ReadOptions
from fer_lightning.data.formats.source import DatasetSource
from fer_lightning.data.formats.splits import stratified_kfold, stratified_split
from fer_lightning.errors import ConfigError

# Every dataset the readers know, by `data.dataset` name; a new dataset is a module with a SOURCE and one entry here.
SOURCES: dict[str, DatasetSource] = {s.name: s for s in (fer2013.SOURCE, rafdb.SOURCE, affectnet.SOURCE)}
FORMATS: dict[str, tuple[str, ...]] = {name: source.formats for name, source in SOURCES.items()}
ON_BAD_ROWS = ("error", "skip")


def source_of(dataset: str) -> DatasetSource:
    """The DatasetSource named `dataset`; a ConfigError lists the known ones."""
    check_choice(dataset, SOURCES, "data.dataset", " by the format readers (data=synthetic needs no files)")
    return SOURCES[dataset]


def detect_format(dataset: str, root: Path) -> str:
    """Name the on-disk format found under root for `dataset`; MissingDataError says what was looked for."""
    return source_of(dataset).detect(Path(root).expanduser())


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
    source = source_of(dataset)
    check_choice(format, ("auto", *source.formats), "data.format", f" for data.dataset={dataset}")
    check_choice(on_bad_rows, ON_BAD_ROWS, "data.on_bad_rows")
    check_choice(labels, source.labels, "data.labels", f" for data.dataset={dataset}")
    check_image_size(image_size)
    check_channels(channels)
    check_num_classes(num_classes, null=True)
    if labels == "ferplus" and format == "folders":
        raise ConfigError(
            "data.labels=ferplus needs data.format=csv (FER+ votes align with fer2013.csv rows)"
        )
    path = Path(root).expanduser()
    chosen = source.detect(path) if format == "auto" else format
    if not path.is_dir():
        raise source.missing(path, f"Dataset root {path} does not exist")
    if labels == "ferplus" and chosen != "csv":
        raise ConfigError(
            f"data.labels=ferplus needs the FER2013 CSV (format=csv), but {path} holds the {chosen} layout"
        )
    opts = ReadOptions(image_size, channels, on_bad_rows, labels, num_classes, decode_workers, sink)
    bad = BadRows(on_bad_rows)
    result = source.reader(chosen)(path, opts, bad)
    result.dropped = dict(Counter(result.dropped) + bad.finish())
    return result


__all__ = [
    "FORMATS",
    "SOURCES",
    "detect_format",
    "load_dataset",
    "source_of",
    "stratified_kfold",
    "stratified_split",
]
