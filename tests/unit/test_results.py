"""Results files: a reused file name gets its rows, a resumed run does not repeat the earlier one's."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from inspect_svdd.deploy.results import RowLog, path_key
from inspect_svdd.deploy.scoring import verdict_row


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_a_camera_reusing_a_name_gets_a_row_each_time(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    log = RowLog(str(out))
    log.write(verdict_row(Path("in/cam.png"), 1.0, 2.0))
    log.write(verdict_row(Path("in/cam.png"), 9.0, 2.0))  # the next part, same file name (watch + sort-into)
    log.close()
    assert [r["verdict"] for r in _rows(out)] == ["pass", "fail"]  # the second row was dropped before


def test_a_resumed_file_skips_the_earlier_runs_images_however_their_path_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "r.csv"
    first = RowLog(str(out))
    first.write(verdict_row(tmp_path / "in" / "a.png", 1.0, 2.0))  # scored as an absolute path
    first.close()
    resumed = RowLog(str(out), resume=True)
    resumed.write(verdict_row(Path("in/a.png"), 1.0, 2.0))  # the same image, resumed with a relative path
    resumed.write(verdict_row(Path("in/b.png"), 1.0, 2.0))
    resumed.close()
    assert [r["path"] for r in _rows(out)] == [str(tmp_path / "in" / "a.png"), "in/b.png"]  # a.png once
    assert path_key("./in/a.png") == path_key("in/a.png") == str(tmp_path / "in" / "a.png")
