"""One markdown table row per ``inspect-svdd evaluate`` metrics file, with per-type and localisation figures.

python scripts/evaluate_table.py seed0=recipes/results/local/X-seed0-evaluate.json seed1=...

Columns: image AUROC, AUROC per defect type, pooled pixel AUROC and per type (where the labelled
set has masks), the share of defects whose hottest region lies on the defect, and false rejects /
escapes at the model's radius. A last line gives the mean image AUROC over the rows.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal; empty when missing."""
    return "" if value is None else f"{100 * value:.1f}"


def row(doc: dict[str, Any], types: list[str]) -> list[str]:
    """The cells after the label for one metrics document."""
    loc = doc.get("localisation") or {}
    loc_types = loc.get("per_type", {})
    cells = [pct(doc["auroc"])] + [pct(doc["per_type"].get(t, {}).get("auroc")) for t in types]
    if loc:
        cells += [pct(loc.get("pixel_auroc"))] + [pct(loc_types.get(t, {}).get("pixel_auroc")) for t in types]
        cells.append(f"{pct(loc.get('hottest_region_hits'))} %")
    cells.append(f"{pct(doc['false_reject_rate'])} % / {pct(doc['escape_rate'])} %")
    return cells


def main() -> None:
    """Print the table for the ``label=metrics.json`` arguments."""
    pairs = [arg.split("=", 1) for arg in sys.argv[1:]]
    if not pairs or any(len(p) != 2 for p in pairs):
        sys.exit("usage: evaluate_table.py LABEL=metrics.json [LABEL=metrics.json ...]")
    docs = [(label, json.loads(Path(path).read_text())) for label, path in pairs]
    types = sorted({t for _, doc in docs for t in doc.get("per_type", {})})
    masks = any(doc.get("localisation") for _, doc in docs)
    head = ["run", "image AUROC", *types]
    if masks:
        head += ["pixel AUROC", *(f"pixel, {t}" for t in types), "hottest region on the defect"]
    head.append("false rejects / escapes at R")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, doc in docs:
        print("| " + " | ".join([label, *row(doc, types)]) + " |")
    mean = sum(doc["auroc"] for _, doc in docs) / len(docs)
    print(f"\nMean image AUROC over the {len(docs)} rows: {100 * mean:.2f}.")


if __name__ == "__main__":
    main()
