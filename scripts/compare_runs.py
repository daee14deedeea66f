"""One markdown table of AUROC per class across several recipe runs of one dataset (columns: runs and scores).

python scripts/compare_runs.py recipes/results/cifar10-*.json

Each run gives a column per scoring rule it has (``center``, ``mahalanobis``,
``knn``, and ``rotation`` where the rotation task's own score was kept);
``--baselines`` adds the first file's baselines, and the paper's figures
close the table. A mean row over the classes every column covers ends it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np


def columns(doc: dict[str, Any], rules: list[str]) -> dict[str, dict[str, float]]:
    """``{column name: {case: AUROC %}}`` for one results document (mean over seeds)."""
    out: dict[str, dict[str, list[float]]] = {}
    label = f"{doc['setting']}/{doc['size']}"
    for run in doc["runs"]:
        scores = {rule: r["auroc"] for rule, r in run.get("rules", {}).items()} or {"center": run["auroc"]}
        if "rotation_score" in run:
            scores["rotation"] = run["rotation_score"]["auroc"]
        for rule, value in scores.items():
            if rule in rules:
                out.setdefault(f"{label} {rule}", {}).setdefault(run["case"], []).append(100 * value)
    return {name: {case: float(np.mean(v)) for case, v in cases.items()} for name, cases in out.items()}


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--rules", default="center,knn,rotation", help="comma-separated scores to show per run")
    parser.add_argument("--baselines", action="store_true", help="add the first file's baselines")
    args = parser.parse_args()
    docs = [json.loads(p.read_text()) for p in args.files]
    table: dict[str, dict[str, float]] = {}
    for doc in docs:
        table.update(columns(doc, args.rules.split(",")))
    if args.baselines:
        for run in docs[0]["runs"]:
            for name, base in run.get("baselines", {}).items():
                table.setdefault(name, {})[run["case"]] = 100 * base["auroc"]
    paper = docs[0].get("paper_auroc") or {}
    if paper:
        table["paper"] = {str(c): float(v) for c, v in paper.items()}
    cases = sorted({c for col in table.values() for c in col}, key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c))
    print("| class | " + " | ".join(table) + " |")
    print("|---|" + "---|" * len(table))
    for case in cases:
        print(f"| {case} | " + " | ".join(f"{col[case]:.1f}" if case in col else "" for col in table.values()) + " |")
    shared = [c for c in cases if all(c in col for col in table.values())]
    means = [f"{np.mean([col[c] for c in shared]):.1f}" for col in table.values()]
    print(f"| **mean ({len(shared)})** | " + " | ".join(means) + " |")


if __name__ == "__main__":
    main()
