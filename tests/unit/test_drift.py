"""The drift alarm's rolling median, its limit, and its events in a resumed JSON Lines file (issue 26)."""

from __future__ import annotations

import json
from pathlib import Path

from inspect_svdd.deploy.drift import DriftMonitor, drift_limit, held_out_reference
from inspect_svdd.deploy.results import RowLog, written_rows
from inspect_svdd.deploy.scoring import Row


def feed(monitor: DriftMonitor, distances: list[float], verdict: str = "pass") -> list[tuple[int, bool]]:
    events = []
    for i, d in enumerate(distances):
        event = monitor.add(f"p{i}", verdict, d)
        if event is not None:
            events.append((i, event.started))
    return events


def test_limit_is_the_held_out_90th_percentile_but_never_under_0_8_r2() -> None:
    assert held_out_reference([]) is None and drift_limit(None, 1.0) is None
    reference = held_out_reference(list(range(1, 11)))  # 1..10: the 90th percentile is 9.1
    assert reference is not None and abs(reference - 9.1) < 1e-9
    assert drift_limit(reference, 2.0) == 9.1  # R^2 = 4: 0.8 R^2 = 3.2 < 9.1
    assert drift_limit(reference, 4.0) == 0.8 * 16  # R^2 = 16: the floor


def test_a_steady_line_stays_silent_and_a_rising_median_fires_once_then_rearms() -> None:
    monitor = DriftMonitor(limit=0.8, radius=1.0, window=10)
    steady = [0.3, 0.5, 0.4, 0.9, 0.2, 0.6, 0.45, 0.35, 1.5, 0.5] * 20  # a few high parts: the median ignores them
    assert feed(monitor, steady) == []
    rising = [0.3 + 0.05 * i for i in range(30)]  # the median crosses 0.8 about half a window after the parts do
    events = feed(monitor, rising)
    assert len(events) == 1 and events[0][1] and 10 <= events[0][0] <= 22
    back = feed(monitor, [0.3] * 10)
    assert len(back) == 1 and not back[0][1]  # drift over: re-armed


def test_unreadable_files_do_not_count_and_a_window_must_fill_first() -> None:
    monitor = DriftMonitor(limit=0.8, radius=1.0, window=5)
    assert feed(monitor, [5.0] * 4) == []  # four parts far out: the window is not full yet
    assert monitor.add("bad.png", "error", None) is None
    event = monitor.add("p", "fail", 5.0)
    assert event is not None and event.started and event.record()["event"] == "drift"
    assert "above the golden images' 0.80 R^2" in event.line()


def test_drift_events_are_kept_in_jsonl_but_are_not_rows_on_resume(tmp_path: Path) -> None:
    target = tmp_path / "line.jsonl"
    log = RowLog(str(target), jsonl=True)
    log.write(Row("a.png", 0.1, 1.1, 1.0, "fail"))
    log.write_event({"event": "drift", "path": "a.png", "median": 1.1, "limit": 0.8, "radius": 1.0, "window": 50})
    log.write(Row("b.png", -0.5, 0.5, 1.0, "pass"))
    log.close()
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line.get("event") for line in lines] == [None, "drift", None]
    assert [r.path for r in written_rows(target, jsonl=True)] == ["a.png", "b.png"]
    csv_log = RowLog(str(tmp_path / "line.csv"))
    csv_log.write_event({"event": "drift"})  # a CSV holds image rows only
    csv_log.close()
    assert "drift" not in (tmp_path / "line.csv").read_text()
