"""Does a heavier-tailed radius rule fix the samples' false rejects? The radius rules on fitted models' held-out figures.

For each model (fitted with `inspect-svdd fit GOLDEN -o MODEL --seed S`, then scored with `inspect-svdd score
INCOMING -m MODEL --csv CSV`), the radius of every rule at the model's target is set from the held-out golden
statistics in model.json and applied to the scored images (good: paths with a `good` folder; the rest
defects): false rejects, escapes, and the gap between the worst ordinary good part and the best defect.

    python scripts/probes/radius_tail.py NAME=MODEL_DIR:SCORES_CSV [...]
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np

from inspect_svdd.model.hypersphere import fit_radius


def named(names: list[str], total: int) -> str:
    """``k of total``, and the names when there are few."""
    return f"{len(names)} of {total}" + (f": {', '.join(names)}" if 0 < len(names) <= 8 else "")


print(f"# python scripts/probes/radius_tail.py {' '.join(sys.argv[1:])}")
print("| model | scorer | held-out | rule | R² | good rejected | defects passing | worst ordinary good | best defect |")
print("|---|---|---|---|---|---|---|---|---|")
for arg in sys.argv[1:]:
    name, rest = arg.split("=", 1)
    model, scores = rest.rsplit(":", 1)
    doc = json.loads((Path(model) / "model.json").read_text())
    held = np.asarray(doc["holdout"]["distances"], dtype=np.float64)
    target = float(doc["holdout"]["radius"]["target_frr"])
    confidence = float(doc["holdout"]["radius"].get("confidence", 0.9))
    scorer = doc["holdout"]["radius"].get("scorer") or doc.get("selection", {}).get("chosen", "?")
    with open(scores) as f:
        rows = list(csv.DictReader(f))
    good = {Path(r["path"]).name: float(r["distance"]) for r in rows if Path(r["path"]).parent.name == "good"}
    bad = {Path(r["path"]).name: float(r["distance"]) for r in rows if Path(r["path"]).parent.name != "good"}
    ordinary = max((v, k) for k, v in good.items() if not k.startswith("hard"))
    best_bad = min((v, k) for k, v in bad.items())
    for rule in ("lognormal", "tail"):
        r2 = fit_radius(held, target, rule, confidence)[0] ** 2
        rejected = sorted(k for k, v in good.items() if v > r2)
        passing = sorted(k for k, v in bad.items() if v <= r2)
        print(f"| {name} | {scorer} | {held.size} | {rule} | {r2:.4g} | {named(rejected, len(good))} "
              f"| {named(passing, len(bad))} | {ordinary[1]} {ordinary[0]:.4g} | {best_bad[1]} {best_bad[0]:.4g} |")
