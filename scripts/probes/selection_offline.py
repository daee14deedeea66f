"""Re-run fit's scorer selection on a saved model (no training), each candidate's figures beside its real ones.

For trying validation-defect families and ranking rules quickly.

    python scripts/probes/selection_offline.py MODEL_DIR DATASET_ROOT [families,comma,separated|all] [overrides JSON]

MODEL_DIR: a model saved by `recipe run --save-models` (or `fit`) on DATASET_ROOT's golden images
(MVTec AD layout, or samples/); the held-out split is the fit's own (same seed, same images).
"""

import dataclasses
import json
import os
import sys
from pathlib import Path

import torch

from inspect_svdd.bench.data import load_mvtec
from inspect_svdd.bench.runner import proxy_table
from inspect_svdd.bench.tables import proxy_markdown
from inspect_svdd.config import ScoreConfig
from inspect_svdd.model import selection, synthetic
from inspect_svdd.model.artifact import load_model

torch.set_num_threads(1)
det, _ = load_model(sys.argv[1])
split, _ = load_mvtec(sys.argv[2], det.config.preprocess, str(det.config.preprocess.channels))
if len(sys.argv) > 3 and sys.argv[3] != "all":  # only these families
    chosen = sys.argv[3].split(",")
    every = synthetic.defect_families
    selection.defect_families = lambda: {k: v for k, v in every().items() if k in chosen}  # type: ignore[assignment]
overrides = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}  # e.g. {"train": {"radius_views": 1}, "score": {}}
det = det.with_rule(ScoreConfig(**{"k": det.config.score.k, **overrides.get("score", {})}), split.train,
                    train=dataclasses.replace(det.config.train, **overrides.get("train", {})))
table = proxy_table(det, split)
out = Path(os.environ["PROXY_OUT"]) if os.environ.get("PROXY_OUT") else None  # write the table there (JSON + md)
if out is not None:
    table["model"], table["dataset"], table["overrides"], table["command"] = sys.argv[1], sys.argv[2], overrides, sys.argv
    out.write_text(json.dumps(table, indent=1) + "\n")
    out.with_suffix(".md").write_text(proxy_markdown(table))
print("chosen", table["chosen"], "best in hindsight", table["best_in_hindsight"], table["judged_on"])
for c in table["candidates"]:
    t = c["test"]
    print(f"{c['candidate']:66s} val escape {c['escape']:.3f} auroc {c['auroc']:.3f} | test auroc {t['auroc']:.3f} "
          f"escape {t['test_escape_rate']:.3f} frr {t['test_false_reject_rate']:.3f} | "
          + " ".join(f"{k} {v:.2f}" for k, v in c["escape_per_family"].items()))
