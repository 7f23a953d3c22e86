"""Outputs that are safe and complete: CSV, terminal text, heatmap file names, streamed rows.

File names come from whoever dropped the parts into a folder, so they are untrusted text:
- a CSV cell that starts with `=`, `+`, `-`, `@` (or a tab / carriage return) is a formula to
  a spreadsheet (`=HYPERLINK(...)`): it is prefixed with an apostrophe (`csv_cell`). Every CSV
  the app writes (inspect results, log exports, protocol and sweep tables) goes through
  `CsvWriter` / `write_csv_atomic`, the one home of that rule and of the dialect;
- control characters (ANSI escape sequences, carriage returns, bidirectional overrides) in
  terminal output could rewrite the screen: they are shown escaped (`terminal_text`);
- two inputs may share a stem (`part.png`, `part.jpg`, or two folders' `001.png`): heatmap
  names are unique per input (`HeatmapNames`);
- a batch's results are written as they come (`ResultStream`): the table on the terminal and
  the CSV rows appear while the batch runs, not at its end.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
import sys
from pathlib import Path
from typing import IO, Any, Iterable, Mapping, Optional, Sequence

from inspector.store.atomic import atomic_open, describe_os_error
from inspector.store.names import safe_folder_name
from inspector.types import InspectorError, Progress, Reporter

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
# C0 and C1 controls, DEL, and the Unicode bidirectional / line-separator controls.
_TERMINAL_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def csv_cell(value: Any, float_format: Optional[str] = None) -> Any:
    """A value for a CSV cell that a spreadsheet shows as text, never runs as a formula.

    Floats are written exactly (`repr`) or with `float_format` (e.g. ".6g"), NaN as empty; a
    number is never escaped, so numbers must be passed as numbers, not pre-formatted text.
    """
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(value) if float_format is None else format(value, float_format)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class CsvDialect(csv.excel):
    """The one CSV dialect of every output: comma, minimal quoting, "\n" line ends.

    "\n" rather than the excel "\r\n": text streams (stdout, files opened in text mode)
    translate it where the platform wants, so no output ever gets "\r\r\n".
    """

    lineterminator = "\n"


class CsvWriter:
    """`csv.writer` in CsvDialect whose every cell goes through `csv_cell`."""

    def __init__(self, handle: IO[str], float_format: Optional[str] = None) -> None:
        self._writer = csv.writer(handle, dialect=CsvDialect)
        self.float_format = float_format

    def writerow(self, cells: Iterable[Any]) -> None:
        self._writer.writerow([csv_cell(c, self.float_format) for c in cells])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def write_csv_atomic(path: str | os.PathLike, columns: Sequence[str], rows: Iterable[Any],
                     float_format: Optional[str] = None, bom: bool = False) -> int:
    """A header and rows (sequences, or mappings read by `columns`, missing keys empty) written
    atomically; `bom` starts the file with a UTF-8 byte-order mark, so that spreadsheet programs
    show accents right. Returns the number of rows."""
    count = 0
    with atomic_open(path, "wb") as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8-sig" if bom else "utf-8", newline="")
        writer = CsvWriter(text, float_format)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c) for c in columns] if isinstance(row, Mapping) else row)
            count += 1
        text.flush()
        text.detach()
    return count


def terminal_text(text: Any, keep_newlines: bool = False) -> str:
    """`text` with every control character shown as an escape (`\\x1b`), so it cannot drive the terminal."""
    text = str(text)
    if not keep_newlines:
        text = text.replace("\n", "\\n").replace("\t", "\\t")
    return _TERMINAL_UNSAFE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


class HeatmapNames:
    """A heatmap file name per input path, unique within the batch (compared case-insensitively).

    `<parent>_<stem>_heatmap.png` as before when that is unique; inputs that share it get their
    suffix added (`part_jpg`), then a number. Names are safe on every file system.
    """

    def __init__(self, paths: Iterable[Path | str] = ()) -> None:
        self._names: dict[str, str] = {}
        self._taken: set[str] = set()
        paths = [Path(p) for p in paths]
        stems: dict[str, int] = {}
        for path in paths:
            key = self._base(path).lower()
            stems[key] = stems.get(key, 0) + 1
        for path in paths:
            self._assign(path, shared=stems[self._base(path).lower()] > 1)

    @staticmethod
    def _base(path: Path) -> str:
        return safe_folder_name(f"{path.parent.name}_{path.stem}", 120)

    def _assign(self, path: Path, shared: bool) -> str:
        key = str(path)
        if key in self._names:
            return self._names[key]
        base = self._base(path)
        if shared and path.suffix:
            base = safe_folder_name(f"{base}_{path.suffix.lstrip('.')}", 130)
        candidate, n = f"{base}_heatmap.png", 1
        while candidate.lower() in self._taken:
            n += 1
            candidate = f"{base}-{n}_heatmap.png"
        self._taken.add(candidate.lower())
        self._names[key] = candidate
        return candidate

    def name_for(self, path: Path | str) -> str:
        return self._names.get(str(path)) or self._assign(Path(path), shared=False)


class ResultStream:
    """Batch results written as they come: a row on the terminal and in the CSV per image.

    The CSV is written straight to its path and flushed per row, so a long batch can be followed
    (and a killed one keeps what was done); it is fsynced when the stream closes.
    """

    COLUMNS = ("image", "score", "verdict", "error")

    def __init__(self, csv_path: Optional[str | os.PathLike] = None, out: Optional[IO[str]] = None,
                 image_width: int = 0) -> None:
        self.out = out if out is not None else sys.stdout
        self.counts = {v: 0 for v in ("PASS", "REVIEW", "FAIL", "ERROR")}
        self._csv_handle: Optional[IO[str]] = None
        self._csv: Optional[CsvWriter] = None
        self.csv_path = None if csv_path is None else Path(csv_path)
        if self.csv_path is not None:
            try:
                self.csv_path.parent.mkdir(parents=True, exist_ok=True)
                self._csv_handle = open(self.csv_path, "w", encoding="utf-8", newline="")
            except OSError as exc:
                raise InspectorError(f"Could not write {self.csv_path}: {describe_os_error(exc)}") from exc
            self._csv = CsvWriter(self._csv_handle)
            self._write_csv(self.COLUMNS)
        self.out.write(f"{'verdict':<7}  {'score':<10}  image\n{'-' * 7}  {'-' * 10}  {'-' * max(5, image_width)}\n")
        self.out.flush()

    def _write_csv(self, cells: Sequence[Any]) -> None:
        assert self._csv is not None and self._csv_handle is not None
        try:
            self._csv.writerow(cells)
            self._csv_handle.flush()
        except OSError as exc:
            raise InspectorError(f"Could not write {self.csv_path}: {describe_os_error(exc)}") from exc

    def add(self, image: str, score: Optional[float], verdict: str, error: str = "") -> None:
        """One result: shown on the terminal at once and appended to the CSV."""
        self.counts[verdict] = self.counts.get(verdict, 0) + 1
        shown = "-" if score is None or not math.isfinite(score) else format(score, ".4g")
        line = f"{verdict:<7}  {shown:<10}  {terminal_text(image)}"
        if error:  # on its own line, so that the image stays the last column of the table
            line += f"\n{'':<7}  {'':<10}  error: {terminal_text(error)}"
        self.out.write(line + "\n")
        self.out.flush()
        if self._csv is not None:
            self._write_csv((image, score, verdict, error))

    def close(self) -> None:
        if self._csv_handle is not None:
            try:
                self._csv_handle.flush()
                os.fsync(self._csv_handle.fileno())
            except OSError:
                pass
            self._csv_handle.close()
            self._csv_handle = None
            self._csv = None

    def __enter__(self) -> "ResultStream":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class BatchProgress:
    """One progress bar for a whole batch: each chunk's own stages never restart it.

    `reporter()` is handed to `predict` for a chunk: it keeps the cancel token and drops the
    chunk's inner progress; `advance(n)` moves the overall bar after each chunk.
    """

    def __init__(self, callback: Any, total: int, stage: str = "inspect") -> None:
        self.callback, self.total, self.stage, self.done = callback, total, stage, 0
        self._reporter = Reporter(None, getattr(callback, "cancel_token", None))

    def reporter(self) -> Reporter:
        return self._reporter

    def advance(self, count: int, message: str = "") -> None:
        self.done = min(self.total, self.done + count)
        if self.callback is not None:
            self.callback(Progress(self.stage, self.done, self.total, terminal_text(message)))
