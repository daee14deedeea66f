"""The drift alarm: the scored parts' distances, watched over a rolling window.

A lighting change, a dirty lens or a new supplier moves every part's distance
up. :class:`DriftMonitor` keeps the distances of the last ``window`` scored
parts, passed and failed (unreadable files do not count), and raises an event
when their median rises above the **drift limit**: the held-out golden images'
90th percentile distance, or ``FLOOR`` (0.8) of R², whichever is larger (the floor keeps a model whose
held-out images lie close together from calling ordinary variation drift).
Scoring goes on; the event is one warning line and, in a JSON Lines file, one
``{"event": "drift", ...}`` record. When the median falls back below the limit
the monitor re-arms (and says so), so a lasting drift is reported once.

Why failed parts count too: watching the passing parts alone was tried first.
Darkened parts fail and leave that window, so its median stays between the
held-out images and R^2 and, on the samples' darkening folder, never rose above
0.6 R^2 while every part failed. The median of all parts is still robust to a
few real defects: it moves only when half the window does.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

WINDOW = 50  # parts (passed or failed) in the rolling median
FLOOR = 0.8  # the limit is never below this share of R^2
QUANTILE = 0.9  # of the held-out golden images' distances


def held_out_reference(distances: Sequence[float]) -> float | None:
    """The held-out golden images' distance the limit is based on (None without held-out images)."""
    import numpy as np  # lazily: the CLI imports this module for --help

    return float(np.quantile(np.asarray(distances, dtype=np.float64), QUANTILE)) if len(distances) else None


def drift_limit(reference: float | None, radius: float) -> float | None:
    """The distance the rolling median of the scored parts must stay under (None: no reference, no alarm)."""
    return None if reference is None else max(reference, FLOOR * radius**2)


@dataclass(frozen=True)
class DriftEvent:
    """The rolling median crossed the limit (``started``) or fell back under it."""

    path: str
    median: float
    limit: float
    radius: float
    window: int
    started: bool

    def record(self) -> dict[str, object]:
        """The JSON Lines record of the event."""
        return {"event": "drift" if self.started else "drift_over", "path": self.path, "median": self.median,
                "limit": self.limit, "radius": self.radius, "window": self.window}

    def line(self) -> str:
        """The one-line warning."""
        r2 = self.radius**2
        if not self.started:
            return (f"note: drift over at {self.path}: the median of the last {self.window} parts is back at "
                    f"{self.median / r2:.2f} R^2 (limit {self.limit / r2:.2f} R^2)")
        return (f"warning: drift at {self.path}: the median of the last {self.window} parts is "
                f"{self.median / r2:.2f} R^2, above the golden images' {self.limit / r2:.2f} R^2; check the lighting, "
                "the lens and the parts' supplier (scoring goes on)")


class DriftMonitor:
    """Rolling median of the last ``window`` scored parts' distances against ``limit``."""

    def __init__(self, limit: float, radius: float, window: int = WINDOW) -> None:
        self.limit, self.radius, self.window = limit, radius, window
        self.recent: deque[float] = deque(maxlen=window)
        self.drifting = False

    def add(self, path: str, verdict: str, distance: float | None) -> DriftEvent | None:
        """Count one scored part; an event when the median crosses the limit (either way)."""
        if verdict not in ("pass", "fail") or distance is None:
            return None
        self.recent.append(distance)
        if len(self.recent) < self.window:
            return None
        median = float(statistics.median(self.recent))
        if (median > self.limit) == self.drifting:
            return None
        self.drifting = not self.drifting
        return DriftEvent(path, median, self.limit, self.radius, self.window, self.drifting)
