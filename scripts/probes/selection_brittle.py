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
from inspect_svdd.bench.runner import _rule_result
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.augment import with_views
from inspect_svdd.model.heads import feature_slice
from inspect_svdd.model.selection import candidate_config

torch.set_num_threads(1)
det, meta = load_model(sys.argv[1])
split, _ = load_mvtec(sys.argv[2], det.config.preprocess, str(det.config.preprocess.channels))
count = int(sys.argv[3]) if len(sys.argv) > 3 else 2
both = det.embeddings(split.test, kind="both")
stage_dim = det._fitted()[0].feature_dim("stages")
t = det.config.train
print(f"{sys.argv[1]} on {sys.argv[2]}: chosen {meta['selection']['chosen']}; {count} view(s) of each held-out image "
      f"({t.augment})")
print(f"{'candidate':72s} {'val escape':>10s} {'view FRR':>9s} | {'test AUROC':>10s} {'escape':>7s} {'FRR':>6s}")
for row in meta["selection"]["candidates"]:
    other = det.with_rule(candidate_config(det.config.score, row["candidate"]), split.train)
    hold = other._split(split.train)[1]
    views = with_views(hold, t.augment, t.seed + 11, count)[len(hold):]
    view_frr = float(np.mean(other.score(views) > 0))
    test = _rule_result(other, split, both[:, feature_slice(other.config.score.feature_kind, stage_dim)])
    print(f"{row['candidate']:72s} {100 * row['escape']:9.1f}% {100 * view_frr:8.1f}% | {100 * test['auroc']:10.1f} "
          f"{100 * test['test_escape_rate']:6.1f}% {100 * test['test_false_reject_rate']:5.1f}%")
