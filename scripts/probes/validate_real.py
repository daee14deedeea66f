"""What `fit --validate` buys: fit's scorer selection judged on a few real defects instead of synthetic ones.

A seeded draw of COUNT defective test images plays the user's folder of known defects (`--validate`);
the selection is re-run on a saved model (no training) with them, and every candidate is scored on
the rest of the test set (test/good and the defects not drawn), beside the synthetic-defect choice.

    PROXY_OUT=out.json python scripts/probes/validate_real.py MODEL_DIR DATASET_ROOT [COUNT] [SEED]
"""

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from inspect_svdd.bench.data import load_mvtec
from inspect_svdd.bench.runner import proxy_table
from inspect_svdd.bench.tables import proxy_markdown
from inspect_svdd.config import ScoreConfig
from inspect_svdd.model.artifact import load_model

torch.set_num_threads(1)
model, root = sys.argv[1], sys.argv[2]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 20
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
det, _ = load_model(model)
split, _ = load_mvtec(root, det.config.preprocess, str(det.config.preprocess.channels))
bad = np.flatnonzero(split.test_anomalous)
drawn = np.random.default_rng(seed).choice(bad, size=min(count, len(bad)), replace=False)
keep = np.setdiff1d(np.arange(len(split.test)), drawn)
rest = dataclasses.replace(split, test=split.test[keep], test_anomalous=split.test_anomalous[keep],
                           test_groups=[split.test_groups[i] for i in keep])
auto = ScoreConfig(k=det.config.score.k)  # rule auto: select again
tables = {}
for judged, validation in (("synthetic", None), (f"{len(drawn)} real defects", split.test[drawn])):
    tables[judged] = proxy_table(det.with_rule(auto, split.train, validation=validation), rest)
    t = next(c for c in tables[judged]["candidates"] if c["candidate"] == tables[judged]["chosen"])["test"]
    print(f"judged on {judged}: chose {tables[judged]['chosen']}: test AUROC {t['auroc']:.3f}, "
          f"escape {t['test_escape_rate']:.3f}, false rejects {t['test_false_reject_rate']:.3f} "
          f"(on {len(rest.test)} test images not drawn)")
out = Path(os.environ["PROXY_OUT"]) if os.environ.get("PROXY_OUT") else None
if out is not None:
    record = {"model": model, "dataset": root, "count": len(drawn), "seed": seed, "command": sys.argv,
              "tables": tables}
    out.write_text(json.dumps(record, indent=1) + "\n")
    out.with_suffix(".md").write_text("\n\n".join(f"## Judged on {k}\n\n{proxy_markdown(v)}" for k, v in tables.items()))
