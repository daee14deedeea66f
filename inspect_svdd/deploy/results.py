"""Per-image results to CSV (written as produced), run summary, exit code.

Exit codes (documented in ``score --help`` and the README):

* 0: every image passed
* 1: at least one image failed (none unreadable)
* 2: usage error: bad option, missing folder, unusable model (nothing scored)
* 3: at least one image could not be read (the others were scored as usual)
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # numpy and OpenCV stay out of `inspect-svdd --help`
    from inspect_svdd.deploy.scoring import Row

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3
CSV_COLUMNS = ("path", "score", "distance", "radius", "verdict", "error")


class CsvWriter:
    """Writes rows as they come and flushes each, so an interrupted run keeps its rows."""

    def __init__(self, stream: TextIO, extra: tuple[str, ...] = ()) -> None:
        self.stream = stream
        self.writer = csv.writer(stream, lineterminator="\n")
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
            return EXIT_UNREADABLE
        return EXIT_FAIL if self.failed else EXIT_PASS

    def summary(self, backend: str = "", provider: str = "") -> str:
        """One-line human summary with elapsed time and throughput."""
        elapsed = time.perf_counter() - self.started
        rate = self.total / elapsed if elapsed > 0 else 0.0
        where = f" [{backend}, {provider}]" if backend else ""
        return (
            f"{self.total} images: {self.passed} pass, {self.failed} fail, {self.errors} error "
            f"in {elapsed:.1f} s ({rate:.1f} images/s){where}"
        )
