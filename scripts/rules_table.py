"""Print every scoring rule's figures from recipe result JSON files (one line per file and rule).

python scripts/rules_table.py recipes/results/levers/*.json
"""

import json
import sys
from pathlib import Path

for path in sys.argv[1:]:
    doc = json.loads(Path(path).read_text())
    for run in doc["runs"]:
        for rule, r in run.get("rules", {}).items():
            groups = " ".join(f"{g}={v:.3f}" for g, v in r.get("groups", {}).items())
            print(f"{doc['recipe']:14s} {doc['setting']:14s} {doc['size']:7s} seed {run['seed']} {rule:12s} "
                  f"AUROC {r['auroc']:.3f}  FRR@R {r['test_false_reject_rate']:.3f}  escape@R {r['test_escape_rate']:.3f}  "
                  f"escape@2%testFRR {r['escape_at_2pct_test_frr']:.3f}  train {run['train_seconds']:.0f}s {groups}")
