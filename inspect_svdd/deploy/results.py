"""Per-image results to CSV and JSON Lines (written as produced, resumable), run summary, exit code.

Exit codes (documented in ``score --help`` and the README):

* 0: every image passed
* 1: at least one image failed (none unreadable)
* 2: usage error: bad option, missing folder, unusable model (nothing scored)
* 3: at least one image could not be read (the others were scored as usual)
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from inspect_svdd.errors import ConfigError, ExitCode

if TYPE_CHECKING:  # numpy and OpenCV stay out of `inspect-svdd --help`
    from inspect_svdd.deploy.scoring import Row

CSV_COLUMNS = ("path", "score", "distance", "radius", "verdict", "error")


class CsvWriter:
    """Writes rows as they come and flushes each, so an interrupted run keeps its rows."""

    def __init__(self, stream: TextIO, extra: tuple[str, ...] = (), header: bool = True) -> None:
        self.stream = stream
        self.writer = csv.writer(stream, lineterminator="\n")
        if header:  # not when appending to a resumed file
            self.writer.writerow(CSV_COLUMNS + extra)  # extra columns after the score ones (evaluate: the label)
            stream.flush()

    def write(self, row: Row, *extra: str) -> None:
        """Append one row (and the values of the extra columns) and flush it."""
        self.writer.writerow([
            row.path,
            "" if row.score is None else f"{row.score:.9g}",
            "" if row.distance is None else f"{row.distance:.9g}",
            f"{row.radius:.9g}",
            row.verdict,
            row.error,
            *extra,
        ])
        self.stream.flush()


class JsonlWriter:
    """One JSON object per image and line (the CSV's fields; numbers as numbers, null for none), flushed each."""

    def __init__(self, stream: TextIO, extra: tuple[str, ...] = ()) -> None:
        self.stream = stream
        self.extra = extra

    def write(self, row: Row, *extra: str) -> None:
        """Append one row (and the values of the extra fields) and flush it."""
        record: dict[str, Any] = {"path": row.path, "score": row.score, "distance": row.distance, "radius": row.radius,
                                  "verdict": row.verdict, "error": row.error, **dict(zip(self.extra, extra, strict=True))}
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()


def repair_tail(path: Path) -> bool:
    """Cut a last line that a crash left without its newline; True if one was cut."""
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return False
    with open(path, "r+b") as stream:
        stream.truncate(data.rfind(b"\n") + 1)
    return True


def written_rows(path: Path, extra: tuple[str, ...] = (), jsonl: bool = False) -> list[Row]:
    """The rows of an earlier run's CSV (or JSON Lines) file, to resume it.

    Raises:
        ConfigError: the file has other columns than this run would write, or
            a line that is not a result row.
    """
    from inspect_svdd.deploy.scoring import Row

    text = path.read_text(encoding="utf-8")
    if jsonl:
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: line {exc.lineno} is not JSON; cannot resume from it") from None
    else:
        reader = csv.DictReader(io.StringIO(text))
        if text and tuple(reader.fieldnames or ()) != CSV_COLUMNS + extra:
            raise ConfigError(f"{path}: columns {','.join(reader.fieldnames or ())} differ from this run's "
                              f"{','.join(CSV_COLUMNS + extra)}; cannot resume from it")
        records = list(reader)
    rows = []
    for number, r in enumerate(records, start=1 if jsonl else 2):
        if jsonl and isinstance(r, dict) and "event" in r:
            continue  # a drift event, not a row (skipped here so line numbers stay the file's)
        try:
            rows.append(Row(str(r["path"]), _number(r["score"]), _number(r["distance"]), float(r["radius"]),
                            str(r["verdict"]), str(r.get("error") or "")))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{path}: line {number} is not a result row; cannot resume from it") from None
    return rows


def _number(value: Any) -> float | None:
    return None if value in ("", None) else float(value)


def path_key(path: str | Path) -> str:
    """An image's identity in a results file: its absolute, normalised path (``./in/a.png`` is ``in/a.png``)."""
    return os.path.normpath(os.path.abspath(path))


class RowLog:
    """One results file of a run, CSV or JSON Lines, new or resumed; ``-`` is stdout.

    Resumed (``resume`` and the file exists): a cut-off last line is removed,
    the rows already there are kept in ``previous``, and rows for images
    they hold are not written again.
    """

    def __init__(self, target: str, extra: tuple[str, ...] = (), resume: bool = False, jsonl: bool = False) -> None:
        self.target, self.repaired = target, False
        self.previous: list[Row] = []
        path = Path(target)
        append = resume and target != "-" and path.is_file() and path.stat().st_size > 0
        if append:
            self.repaired = repair_tail(path)
            self.previous = written_rows(path, extra, jsonl)
        import sys

        self.stream: TextIO = sys.stdout if target == "-" else open(path, "a" if append else "w", newline="", encoding="utf-8")  # noqa: SIM115
        self.writer = JsonlWriter(self.stream, extra) if jsonl else CsvWriter(self.stream, extra, header=not append)
        self.done = {path_key(r.path) for r in self.previous}  # images of the earlier run (as path keys)

    def write(self, row: Row, *extra: str) -> None:
        """Append ``row`` unless the earlier run's rows (resume) already hold one for its image."""
        if path_key(row.path) not in self.done:
            self.writer.write(row, *extra)

    def write_event(self, record: dict[str, Any]) -> None:
        """Append an event record (JSON Lines only; a CSV holds one row per image and nothing else)."""
        if isinstance(self.writer, JsonlWriter):
            self.stream.write(json.dumps(record) + "\n")
            self.stream.flush()

    def forget_previous(self) -> None:
        """Write every row from now on (the earlier run's files were moved away: a same-named file is a new one)."""
        self.done = set()

    def close(self) -> None:
        """Close the file (stdout stays open)."""
        if self.target != "-":
            self.stream.close()


@dataclass
class Report:
    """Counts per outcome and one derived exit code (after black's report)."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    started: float = field(default_factory=time.perf_counter)

    def add(self, row: Row) -> None:
        """Count one row."""
        if row.verdict == "pass":
            self.passed += 1
        elif row.verdict == "fail":
            self.failed += 1
        else:
            self.errors += 1

    @property
    def total(self) -> int:
        """Rows counted so far."""
        return self.passed + self.failed + self.errors

    @property
    def exit_code(self) -> int:
        """3 if any image was unreadable, else 1 if any failed, else 0."""
        if self.errors:
            return int(ExitCode.UNREADABLE)
        return int(ExitCode.FAIL if self.failed else ExitCode.PASS)

    def summary(self, backend: str = "", provider: str = "") -> str:
        """One-line human summary with elapsed time and throughput."""
        elapsed = time.perf_counter() - self.started
        rate = self.total / elapsed if elapsed > 0 else 0.0
        where = f" [{backend}, {provider}]" if backend else ""
        return (
            f"{self.total} images: {self.passed} pass, {self.failed} fail, {self.errors} error "
            f"in {elapsed:.1f} s ({rate:.1f} images/s){where}"
        )
