"""On the line: watching a hot folder, resuming an interrupted run, JSON Lines, sorting files by verdict."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from inspect_svdd.cli import main
from inspect_svdd.deploy.watch import FolderWatch
from tests.conftest import REPO, draw_part


def png_bytes(seed: int, scratch: bool = False) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(draw_part(seed, scratch), cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text()))) if path.is_file() else []


def cli(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "inspect_svdd", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def wait_for(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def _drop_files(folder: Path) -> None:
    """50 files, slowly: a third renamed from a temporary name, a third written in place in two parts, 3 corrupt."""
    for i in range(50):
        target = folder / f"part_{i:03d}.png"
        data = b"\x89PNG\r\n\x1a\n" + b"not really" * 20 if i in (7, 23, 41) else png_bytes(i, scratch=i % 5 == 0)
        if i % 3 == 0:
            temporary = folder / f".part_{i:03d}.png.tmp"
            temporary.write_bytes(data)
            os.replace(temporary, target)
        elif i % 3 == 1:
            with open(target, "wb") as stream:
                stream.write(data[: len(data) // 2])
                stream.flush()
                time.sleep(0.1)  # a slow writer: the half-written file must not be scored (settle: 30 times this pause)
                stream.write(data[len(data) // 2 :])
        else:
            target.write_bytes(data)
        time.sleep(0.05)


def test_watch_scores_each_dropped_file_once_and_stops_cleanly_on_sigterm(model_dir: Path, tmp_path: Path) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    (hot / "already_there.png").write_bytes(png_bytes(99))
    out = tmp_path / "out.csv"
    proc = cli("score", str(hot), "-m", str(model_dir), "--watch", "--csv", str(out), "--settle", "3",
               "--poll", "0.1", "--jsonl", str(tmp_path / "out.jsonl"))
    try:
        writer = threading.Thread(target=_drop_files, args=(hot,))
        writer.start()
        writer.join()
        assert wait_for(lambda: len(rows_of(out)) >= 51, 90), rows_of(out)
        time.sleep(3.5)  # nothing more may come (a second hand-over would need the settle time)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    rows = rows_of(out)
    paths = [Path(r["path"]).name for r in rows]
    assert len(rows) == 51 and len(set(paths)) == 51 and "already_there.png" in paths
    errors = sorted(Path(r["path"]).name for r in rows if r["verdict"] == "error")
    assert errors == ["part_007.png", "part_023.png", "part_041.png"]
    assert proc.returncode == 3, err  # the usual rule: some file was unreadable
    assert "51 images:" in err and "3 error" in err
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 51


def test_a_file_is_ready_only_once_its_size_has_settled(tmp_path: Path) -> None:
    now = [0.0]
    watch = FolderWatch(tmp_path, settle=1.0, clock=lambda: now[0])
    (tmp_path / "a.png").write_bytes(b"half")
    assert watch.ready() == []
    now[0] = 0.6
    (tmp_path / "a.png").write_bytes(b"half and more")  # still growing: the clock starts again
    assert watch.ready() == []
    now[0] = 1.2
    assert watch.ready() == []
    now[0] = 1.7
    assert watch.ready() == [tmp_path / "a.png"]
    now[0] = 5.0
    assert watch.ready() == []  # handed out once
    (tmp_path / ".b.png.tmp").write_bytes(b"x")  # a temporary name is never an image
    now[0] = 9.0
    assert watch.ready() == []


def test_resume_after_a_kill_gives_every_row_once(model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    samples = [png_bytes(i, scratch=i % 4 == 0) for i in range(8)]
    names = [folder / f"img_{i:04d}.png" for i in range(200)]
    for i, path in enumerate(names):
        if i == 120:
            os.mkfifo(path)  # reading it blocks: the run cannot get past image 120 whatever the CPU's speed
        else:
            path.write_bytes(samples[i % 8])
    listing = tmp_path / "batch.txt"
    listing.write_text("".join(f"{p}\n" for p in names))
    out = tmp_path / "out.csv"
    proc = cli("score", str(listing), "-m", str(model_dir), "--csv", str(out), "--batch-size", "1", "--workers", "1")
    try:
        assert wait_for(lambda: len(rows_of(out)) >= 20, 120)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    kept = len(rows_of(out))
    assert 20 <= kept <= 120
    names[120].unlink()
    names[120].write_bytes(samples[0])  # the blocked file arrives after all
    with open(out, "a") as stream:  # what a crash in the middle of a write leaves
        stream.write(str(folder / "img_9999.png") + ",0.12")
    result = CliRunner().invoke(main, ["score", str(listing), "-m", str(model_dir), "--csv", str(out), "--resume"])
    rows = rows_of(out)
    assert len(rows) == 200 and len({r["path"] for r in rows}) == 200, result.stderr
    assert "removed a last line cut off by an interruption" in result.stderr
    straight = CliRunner().invoke(main, ["score", str(listing), "-m", str(model_dir), "--csv", "-"])
    assert [r["verdict"] for r in rows] == [r["verdict"] for r in csv.DictReader(io.StringIO(straight.stdout))]
    assert result.exit_code == straight.exit_code == 1
    again = CliRunner().invoke(main, ["score", str(listing), "-m", str(model_dir), "--csv", str(out), "--resume"])
    assert again.exit_code == 1 and len(rows_of(out)) == 200 and "200 images:" in again.stderr  # nothing left to do


def test_resume_refuses_a_file_of_another_kind(model_dir: Path, incoming_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("name,value\na,1\n")
    result = CliRunner().invoke(main, ["score", str(incoming_dir), "-m", str(model_dir), "--csv", str(other), "--resume"])
    assert result.exit_code == 2 and result.stderr.strip().startswith(f"Error: {other}: columns name,value differ")
    assert other.read_text() == "name,value\na,1\n"
    result = CliRunner().invoke(main, ["score", str(incoming_dir), "-m", str(model_dir), "--resume"])
    assert result.exit_code == 2 and "--resume continues a results file: give --csv FILE or --jsonl FILE" in result.stderr


def test_jsonl_holds_the_csv_fields(model_dir: Path, incoming_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["score", str(incoming_dir), "-m", str(model_dir), "--csv", "-",
                                       "--jsonl", str(tmp_path / "r.jsonl")])
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(records) == len(rows) == 7
    for record, row in zip(records, rows, strict=True):
        assert list(record) == list(row) and record["path"] == row["path"] and record["verdict"] == row["verdict"]
        assert (record["score"] is None) == (row["score"] == "")
        if record["score"] is not None:
            assert record["score"] == pytest.approx(float(row["score"]), rel=1e-6)
    assert records[-1]["error"] == "PNG file is truncated (no end marker)"


def test_sort_into_moves_files_by_verdict_without_overwriting(model_dir: Path, incoming_dir: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "in"
    shutil.copytree(incoming_dir, folder)
    sorted_dir = tmp_path / "sorted"
    (sorted_dir / "error" / "scratch").mkdir(parents=True)
    (sorted_dir / "error" / "scratch" / "zz_corrupt.png").write_bytes(b"an earlier file of the same name")
    result = CliRunner().invoke(main, ["score", str(folder), "-m", str(model_dir), "--csv", "-", "--sort-into",
                                       str(sorted_dir)])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert not [p for p in folder.rglob("*") if p.is_file()]  # every file moved
    for r in rows:
        relative = Path(r["path"]).relative_to(folder)
        moved = sorted_dir / r["verdict"] / relative
        if r["verdict"] == "error":
            moved = moved.with_name("zz_corrupt_1.png")
        assert moved.is_file(), moved
    assert (sorted_dir / "error" / "scratch" / "zz_corrupt.png").read_bytes() == b"an earlier file of the same name"


def test_a_reused_file_name_is_scored_again_once_the_first_file_is_gone(tmp_path: Path) -> None:
    now = [0.0]
    watch = FolderWatch(tmp_path, settle=1.0, exclude=[tmp_path / "sorted"], clock=lambda: now[0])
    (tmp_path / "cam.png").write_bytes(b"first part")
    watch.ready()
    now[0] = 2.0
    assert watch.ready() == [tmp_path / "cam.png"]
    (tmp_path / "sorted").mkdir()
    os.replace(tmp_path / "cam.png", tmp_path / "sorted" / "cam.png")  # --sort-into moves it away
    now[0] = 3.0
    assert watch.ready() == []  # the moved file is excluded, and its old name forgotten
    (tmp_path / "cam.png").write_bytes(b"second part, same name")  # the camera reuses the name
    now[0] = 4.0
    watch.ready()
    now[0] = 6.0
    assert watch.ready() == [tmp_path / "cam.png"]  # scored again (it was never scored before the fix)
    now[0] = 9.0
    assert watch.ready() == []  # and only once


def test_sorted_files_and_heat_maps_inside_incoming_are_never_scored(model_dir: Path, tmp_path: Path) -> None:
    incoming = tmp_path / "in"
    for i in range(3):
        (incoming / f"p{i}.png").parent.mkdir(parents=True, exist_ok=True)
        (incoming / f"p{i}.png").write_bytes(png_bytes(i, scratch=i == 2))
    args = ["score", str(incoming), "-m", str(model_dir), "--sort-into", str(incoming / "sorted"),
            "--heatmaps", str(incoming / "heat"), "--csv"]
    first = CliRunner().invoke(main, [*args, str(tmp_path / "a.csv")])
    assert first.exit_code in (0, 1), first.output
    assert len(rows_of(tmp_path / "a.csv")) == 3 and not list(incoming.glob("p*.png"))
    second = CliRunner().invoke(main, [*args, str(tmp_path / "b.csv")])  # nothing new arrived
    assert second.exit_code == 0 and rows_of(tmp_path / "b.csv") == []  # sorted files and overlays are not inputs
    assert len(list((incoming / "sorted").rglob("*.png"))) == 3  # and not nested deeper


def test_resume_finishes_the_moves_a_kill_left_and_matches_paths_however_written(model_dir: Path, tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    incoming = tmp_path / "in"
    incoming.mkdir()
    for i in range(3):
        (incoming / f"p{i}.png").write_bytes(png_bytes(i))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "r.csv"
    result = CliRunner().invoke(main, ["score", "./in", "-m", str(model_dir), "--csv", str(out)])
    assert result.exit_code in (0, 1) and len(rows_of(out)) == 3
    result = CliRunner().invoke(main, ["score", "in", "-m", str(model_dir), "--csv", str(out), "--resume"])
    assert result.exit_code in (0, 1) and len(rows_of(out)) == 3  # './in/p0.png' is 'in/p0.png': no duplicates
    # a kill between writing the rows and moving the files: rows there, files still in INCOMING
    result = CliRunner().invoke(main, ["score", "in", "-m", str(model_dir), "--csv", str(out), "--resume",
                                       "--sort-into", "sorted"])
    assert result.exit_code in (0, 1), result.output
    assert len(rows_of(out)) == 3 and not list(incoming.glob("*.png"))  # moved now, not scored again
    assert sorted(p.name for p in (tmp_path / "sorted").rglob("*.png")) == ["p0.png", "p1.png", "p2.png"]


def test_output_places_that_cannot_be_written_are_one_line(model_dir: Path, incoming_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for option, target in (("--csv", tmp_path / "nodir" / "x.csv"), ("--heatmaps", blocker / "heat")):
        result = CliRunner().invoke(main, ["score", str(incoming_dir), "-m", str(model_dir), option, str(target)])
        assert result.exit_code == 2 and str(target) in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    incoming = tmp_path / "in"
    incoming.mkdir()
    (incoming / "p0.png").write_bytes(png_bytes(0))
    result = CliRunner().invoke(main, ["score", str(incoming), "-m", str(model_dir), "--sort-into", str(blocker / "s"),
                                       "--csv", "-"])
    assert result.exit_code in (0, 1) and len(rows_of_text(result.stdout)) == 1  # scored; the failed move is a warning
    assert "cannot move it" in result.stderr and (incoming / "p0.png").is_file()


def rows_of_text(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))
