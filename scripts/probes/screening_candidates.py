"""Issue 26 probe: which scorer's statistic finds planted defects in a polluted golden set?

    python scripts/probes/screening_candidates.py DATASET_ROOT RATE [MODEL_DIR] [Z ...] > out.txt

Moves RATE of the test defects into train/good (seeded, as the recipes' ``pollution`` does), fits
the default model (or loads MODEL_DIR, saved by an earlier call of this probe), then screens the
golden images with every candidate scorer on the one encoder (training images left out of the k-NN
bank, held-out images as scored; each group judged apart, z = 4) and prints each scorer's recall and
precision on the planted images, and those of "any scorer" (an image far out on at least one).
With more Z values after MODEL_DIR, the same figures for each threshold z (default: 4 alone).
"""

import sys
from pathlib import Path

import numpy as np
import torch

from inspect_svdd.bench.data import load_mvtec, pollute_from_test
from inspect_svdd.config import FitConfig
from inspect_svdd.model.artifact import load_model, save_model
from inspect_svdd.model.detector import DeepSVDD
from inspect_svdd.model.heads import ScoreHead, feature_slice, member_config
from inspect_svdd.model.nets import worst_tile
from inspect_svdd.model.screening import screen
from inspect_svdd.model.selection import CANDIDATES
from inspect_svdd.model.train import embed

torch.set_num_threads(1)
root, rate = Path(sys.argv[1]), float(sys.argv[2])
zs = [float(z) for z in sys.argv[4:]] or [4.0]
split, pre = load_mvtec(root, FitConfig().preprocess, "auto")
split = pollute_from_test(split, rate, 0)
planted = set(int(i) for i in split.planted)
if len(sys.argv) > 3 and Path(sys.argv[3], "model.json").is_file():
    det, _ = load_model(sys.argv[3])
else:
    det = DeepSVDD(FitConfig(preprocess=pre)).fit(split.train, progress=False)
    if len(sys.argv) > 3:
        save_model(det, sys.argv[3])
det._split(split.train)
train_idx, hold_idx = det.split_
encoder = det._fitted()[0]
both_train = embed(encoder, split.train[train_idx], kind="both")
both_hold = embed(encoder, split.train[hold_idx], kind="both")
stage_dim = encoder.feature_dim("stages")
groups = np.zeros(len(split.train), int)
groups[hold_idx] = 1
print(f"{root.name}: {len(split.train)} golden images of which {len(planted)} planted defects ({rate:.0%}); "
      f"fitted scorer {det.selection_.get('chosen')}")
tables = {}
for name in CANDIDATES:
    member = member_config(det.config.score, name)
    where = feature_slice(member.feature_kind, stage_dim)
    head = ScoreHead.fit(member, both_train[:, where], det.center_)
    with torch.no_grad():
        stats = np.empty(len(split.train))
        stats[train_idx] = worst_tile(head(both_train[:, where], exclude_self=True), 1).numpy()
        stats[hold_idx] = worst_tile(head(both_hold[:, where]), 1).numpy()
    tables[name] = stats
held_planted = planted & set(int(i) for i in hold_idx)
for z in zs:
    print(f"z = {z:g}")
    flagged_any: set[int] = set()
    for name, stats in tables.items():
        suspects = set(screen(stats, z, groups)["suspects"])
        flagged_any |= suspects
        hits = len(suspects & planted)
        print(f"{name:24s} suspects {len(suspects):3d}  found {hits:3d} of {len(planted)}  recall {hits / len(planted):.2f}  "
              f"precision {hits / max(len(suspects), 1):.2f}  (held-out planted found: "
              f"{len(suspects & held_planted)} of {len(held_planted)})")
    hits = len(flagged_any & planted)
    print(f"{'any scorer':24s} suspects {len(flagged_any):3d}  found {hits:3d} of {len(planted)}  "
          f"recall {hits / len(planted):.2f}  precision {hits / max(len(flagged_any), 1):.2f}")
