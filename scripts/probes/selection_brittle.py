"""Does a candidate scorer's radius hold on jittered good parts?

Each candidate of a saved fit's selection, with its validation escape, the share of augmented views
of the held-out golden images it rejects at its radius (set on the held-out images alone, as fit sets it),
and its real test figures.

    python scripts/probes/selection_brittle.py MODEL_DIR DATASET_ROOT [VIEWS]

VIEWS (2): augmented views of each held-out image, made with the model's own training augmentation.
"""

import sys

import numpy as np
import torch

from inspect_svdd.bench.data import load_mvtec
from inspect_svdd.bench.runner import candidate_result
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.augment import with_views

torch.set_num_threads(1)
det, meta = load_model(sys.argv[1])
split, _ = load_mvtec(sys.argv[2], det.config.preprocess, str(det.config.preprocess.channels))
count = int(sys.argv[3]) if len(sys.argv) > 3 else 2
both = det.embeddings(split.test, kind="both")
t = det.config.train
print(f"{sys.argv[1]} on {sys.argv[2]}: chosen {meta['selection']['chosen']}; {count} view(s) of each held-out image "
      f"({t.augment})")
print(f"{'candidate':72s} {'val escape':>10s} {'view FRR':>9s} | {'test AUROC':>10s} {'escape':>7s} {'FRR':>6s}")
hold = det._split(split.train)[1]  # the fit's deterministic split, the same for every candidate
views = with_views(hold, t.augment, t.seed + 11, count)[len(hold):]
for row in meta["selection"]["candidates"]:
    other, test = candidate_result(det, split, row["candidate"], both)
    view_frr = float(np.mean(other.score(views) > 0))
    print(f"{row['candidate']:72s} {100 * row['escape']:9.1f}% {100 * view_frr:8.1f}% | {100 * test['auroc']:10.1f} "
          f"{100 * test['test_escape_rate']:6.1f}% {100 * test['test_false_reject_rate']:5.1f}%")
