"""The drift alarm on a darkening line and on good parts, per saved model: recipes/results/line/drift.txt.

    python scripts/probes/darkening_line.py line/
    python scripts/probes/drift_table.py line/ models/samples/all-seed0 models/samples/all-seed1 models/samples/all-seed2

Scores the darkening line once per model (score --jsonl) and samples/incoming/good listed 50 times,
and prints where the first drift event came and how many parts had failed before it.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "inspect_svdd"]


def records(folder: Path, model: str, out: Path) -> list[dict]:
    """The JSONL records of scoring ``folder`` with ``model``."""
    subprocess.run([*CLI, "score", str(folder), "-m", model, "--jsonl", str(out), "-q"], check=False, capture_output=True)
    return [json.loads(line) for line in out.read_text().splitlines()]


line, models = Path(sys.argv[1]), sys.argv[2:]
with tempfile.TemporaryDirectory() as tmp:
    listing = Path(tmp) / "good50.txt"
    good = sorted((REPO / "samples" / "incoming" / "good").iterdir())
    listing.write_text("".join(f"{p}\n" for _ in range(50) for p in good))
    print("Darkening line (60 good parts, then the gain falls by 0.001 per part to 0.8):")
    for model in models:
        rows = records(line, model, Path(tmp) / "line.jsonl")
        parts = [r for r in rows if "event" not in r]
        events = [(i, r) for i, r in enumerate(rows) if "event" in r]
        failed = sum(r.get("verdict") == "fail" for r in parts)
        if not events:
            print(f"  {model}: no drift event; {failed} of {len(parts)} failed")
            continue
        at, event = events[0]
        index = int(Path(event["path"]).stem.split("_")[1])
        before = sum(r.get("verdict") == "fail" for r in rows[:at] if "event" not in r)
        gain = 1.0 - 0.001 * (index - 59)
        print(f"  {model}: drift event at part {index} ({index - 59} parts into the darkening, gain {gain:.3f}), "
              f"{before} parts failed before it, {failed} of {len(parts)} failed in all")
    print("Silence: samples/incoming/good (16 parts) listed 50 times (800 images):")
    for model in models:
        rows = records(listing, model, Path(tmp) / "good.jsonl")
        print(f"  {model}: {sum('event' in r for r in rows)} drift events, "
              f"{sum(r.get('verdict') == 'fail' for r in rows)} of {sum('event' not in r for r in rows)} failed")
