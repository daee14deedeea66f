"""Memory over a long scoring run: peak RSS after 2,000 and after 20,000 images must agree within 10 %.

    python scripts/bench_memory.py -m model [--images 20000] [--at 2000]

Generates the images into a temporary folder (copies of samples/incoming under
new names), then scores them the way ``score --csv --jsonl`` does (the shared
loader, the model's backend, CSV and JSON Lines files written row by row) and
reads the process's peak resident set size after ``--at`` and after all images.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from inspect_svdd.deploy.backends import open_backend
from inspect_svdd.deploy.results import Report, RowLog
from inspect_svdd.deploy.scoring import Row, score_files
from inspect_svdd.io.images import list_images


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Generate, score, report the two peaks; exit 1 when they differ by more than 10 %."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", type=Path, default=Path("model"))
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--at", type=int, default=2_000)
    parser.add_argument("--source", type=Path, default=Path("samples/incoming"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        sources = list_images(args.source)
        for i in range(args.images):
            source = sources[i % len(sources)]
            shutil.copyfile(source, folder / f"img_{i:05d}{source.suffix}")
        backend = open_backend(args.model, "auto", "cpu", None)
        logs = [RowLog(str(Path(tmp) / "out.csv")), RowLog(str(Path(tmp) / "out.jsonl"), jsonl=True)]
        report = Report()
        marks: dict[int, float] = {}
        start = time.perf_counter()

        def on_row(row: Row) -> None:
            for log in logs:
                log.write(row)
            report.add(row)
            if report.total in (args.at, args.images):
                marks[report.total] = peak_rss_mb()

        score_files(list_images(folder), backend, on_row)
        for log in logs:
            log.close()
    early, late = marks[args.at], marks[args.images]
    print(f"{report.total} images scored with {backend.name} in {time.perf_counter() - start:.0f} s; peak RSS "
          f"{early:.0f} MB after {args.at}, {late:.0f} MB after {args.images} ({100 * (late / early - 1):+.1f} %)")
    sys.exit(0 if late <= 1.10 * early else 1)


if __name__ == "__main__":
    main()
