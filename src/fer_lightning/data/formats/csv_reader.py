"""CSV index files read fast and with exact line numbers, so every error can point at its line."""

from __future__ import annotations

import codecs
import csv
import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fer_lightning.errors import DataFormatError, MissingDataError


@dataclass
class Table:
    """A CSV file split into rows of raw byte fields; rows[i] is None when it has the wrong field count."""

    path: Path
    header: list[str]
    rows: list[list[bytes] | None]
    lines: list[int]  # 1-based line where rows[i] starts, as an editor shows it (header = line 1)
    row_errors: dict[int, str] = field(default_factory=dict)

    def column(self, *names: str) -> int | None:
        """Index of the first column whose stripped, case-folded name is one of `names`, else None."""
        folded = [h.strip().lower() for h in self.header]
        for name in names:
            if name.lower() in folded:
                return folded.index(name.lower())
        return None

    def require(self, *names: str) -> list[int]:
        """Indices of the named columns; DataFormatError naming the file's header line when one is absent."""
        missing = [n for n in names if self.column(n) is None]
        if missing:
            raise DataFormatError(
                f"{self.path}, line 1: missing column(s) {', '.join(missing)}; the header must name "
                f"{', '.join(names)} (found: {', '.join(h.strip() for h in self.header) or 'nothing'})"
            )
        return [self.column(n) for n in names]  # type: ignore[misc]


def read_bytes(path: Path) -> bytes:
    """Read a file, transparently gunzipping .gz content; errors name the path."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise MissingDataError(f"{path}: file not found") from err
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read file ({err.strerror or err})") from err
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, path)
    return data


def _gunzip(data: bytes, path: Path) -> bytes:
    # zlib in one call is about twice as fast as gzip.GzipFile; the loop handles multi-member archives.
    parts = []
    try:
        while data:
            inflater = zlib.decompressobj(31)
            parts.append(inflater.decompress(data))
            if not inflater.eof:
                raise zlib.error("truncated gzip stream")
            data = inflater.unused_data.lstrip(b"\x00")
    except zlib.error as err:
        raise DataFormatError(f"{path}: not a valid gzip file ({err}); re-download it") from err
    return b"".join(parts)


def _split_fields(line: bytes) -> list[bytes]:
    parts = line.split(b",")
    if b'"' not in line:
        return parts
    # Whole-field quotes (Kaggle quotes the pixel strings) are stripped cheaply; anything else goes to csv.
    if all(b'"' not in p or (len(p) >= 2 and p[:1] == p[-1:] == b'"' and p.count(b'"') == 2) for p in parts):
        return [p[1:-1] if p[:1] == b'"' else p for p in parts]
    fields = next(csv.reader([line.decode("utf-8", "replace")]), [])
    return [f.encode("utf-8") for f in fields]


def _records_fast(raw: bytes) -> list[tuple[int, list[bytes]]]:
    lines = raw.split(b"\n")
    out = []
    for index in range(len(lines)):
        line = lines[index]
        lines[index] = b""  # release each line once split, so the file is not held twice
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line or line.isspace():
            continue
        out.append((index + 1, _split_fields(line)))
    return out


def _records_csv(raw: bytes, path: Path) -> list[tuple[int, list[bytes]]]:
    # Only for files with quoted fields spanning lines; slower, but csv knows where each record starts.
    reader = csv.reader(io.StringIO(raw.decode("utf-8", "replace"), newline=""))
    out = []
    start = 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if fields and any(f.strip() for f in fields):
                out.append((line, [f.encode("utf-8") for f in fields]))
    except csv.Error as err:
        raise DataFormatError(f"{path}, line {reader.line_num}: malformed CSV ({err})") from err
    return out


def read_table(
    path: Path, *, header_marker: str | None = None, default_header: Sequence[str] | None = None
) -> Table:
    """Read a CSV file into a Table.

    When `default_header` is given and the first line does not contain `header_marker`, the file is taken to
    have no header (AffectNet's validation.csv ships that way) and the first line is data.
    """
    raw = read_bytes(path)
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    quotes_span_lines = any(line.count(b'"') % 2 for line in raw.split(b"\n")) if b'"' in raw else False
    records = _records_csv(raw, path) if quotes_span_lines else _records_fast(raw)
    del raw
    if not records:
        raise DataFormatError(f"{path}: the file is empty; expected a CSV header line and data rows")
    _, first = records[0]
    names = [f.decode("utf-8", "replace") for f in first]
    has_header = default_header is None or any(
        n.strip().lower() == (header_marker or "").lower() for n in names
    )
    if has_header:
        header, data = names, records[1:]
    else:
        header, data = list(default_header or []), records
    table = Table(path=path, header=header, rows=[], lines=[])
    width = len(header)
    for line, fields in data:
        table.lines.append(line)
        if len(fields) == width:
            table.rows.append(fields)
        else:
            table.row_errors[len(table.rows)] = (
                f"expected {width} comma-separated fields ({', '.join(h.strip() for h in header)}), "
                f"got {len(fields)}"
            )
            table.rows.append(None)
    return table
