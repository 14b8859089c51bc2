"""One object per dataset: its on-disk layouts (each with its detection and reader), label sets, missing-data message.

Each dataset module ends with its `SOURCE`; `data.formats.SOURCES` lists them. Adding a dataset is one module that
defines a `DatasetSource` plus one entry in that list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fer_lightning.data.arrays import LoadedDataset
from fer_lightning.data.formats.common import BadRows, ReadOptions
from fer_lightning.errors import MissingDataError

# A reader decodes one layout found under root; its LoadedDataset carries the rows it dropped, by reason.
Reader = Callable[[Path, ReadOptions, BadRows], LoadedDataset]


@dataclass(frozen=True)
class Layout:
    """One on-disk format of a dataset: its name (`data.format`), how to recognise it under root, its reader."""

    name: str
    found: Callable[[Path], object]  # truthy when root holds this layout
    read: Reader


@dataclass(frozen=True)
class DatasetSource:
    """Everything the loader knows about one dataset; layouts are listed in detection priority order."""

    name: str
    layouts: tuple[Layout, ...]
    missing_message: Callable[
        [Path, str], str
    ]  # (root, what was not found) -> where to look, how to obtain it
    labels: tuple[str, ...] = ("default",)

    @property
    def formats(self) -> tuple[str, ...]:
        """The `data.format` values this dataset has, in detection order."""
        return tuple(layout.name for layout in self.layouts)

    def missing(self, root: Path, what: str) -> MissingDataError:
        """The error for data absent under root: `what` went wrong, then where it was looked for and how to get it."""
        return MissingDataError(self.missing_message(root, what))

    def detect(self, root: Path) -> str:
        """The first layout found under root; MissingDataError says what was looked for."""
        if not root.is_dir():
            what = "does not exist" if not root.exists() else "is not a folder"
            raise self.missing(root, f"Dataset root {root} {what}")
        for layout in self.layouts:
            if layout.found(root):
                return layout.name
        raise self.missing(root, f"No {self.name} files found under {root}")

    def reader(self, format: str) -> Reader:
        """The reader of layout `format` (one of `formats`)."""
        return next(layout.read for layout in self.layouts if layout.name == format)
