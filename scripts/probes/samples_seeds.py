"""Fit on samples/golden for seeds 0-2 and print, per scoring rule, AUROC and verdicts on samples/incoming.

Scores are in units of R^2 of each rule's own radius (set as ``fit`` sets it).
Training settings are TrainConfig fields as JSON, e.g.::

    python scripts/probes/samples_seeds.py '{}' default
    python scripts/probes/samples_seeds.py '{"ae_epochs": 30, "epochs": 250, "lr_milestones": [200]}' v0.1-schedule
"""

import json
import sys
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from inspect_svdd.config import SCORE_RULES, FitConfig, PreprocessConfig, ScoreConfig, TrainConfig
from inspect_svdd.io.datasets import load_folder
from inspect_svdd.io.images import list_images
from inspect_svdd.io.preprocess import load_image
from inspect_svdd.model.detector import DeepSVDD

torch.set_num_threads(1)
override, tag = json.loads(sys.argv[1]), sys.argv[2]
folder = load_folder("samples/golden", PreprocessConfig(), "auto")
paths = list_images("samples/incoming")
x = np.stack([load_image(p, folder.preprocess) for p in paths])
defect = np.array([p.parent.name != "good" for p in paths])
for seed in (0, 1, 2):
    start = time.time()
    cfg = FitConfig(folder.preprocess, train=TrainConfig(**{**override, "seed": seed}))
    det = DeepSVDD(cfg).fit(folder.images, progress=False)
    seconds = time.time() - start
    for rule in SCORE_RULES:
        d = det if rule == cfg.score.rule else det.with_rule(ScoreConfig(rule), folder.images)
        s = d.score(x) / d.radius_**2 + 1  # type: ignore[operator]
        good, bad = np.sort(s[~defect]), np.sort(s[defect])
        print(f"{tag} seed {seed} {rule:11s} AUROC {roc_auc_score(defect, s):.3f} good rejected {(good > 1).sum():2d} "
              f"defects passed {(bad <= 1).sum():2d} top goods {np.round(good[-3:], 2)} weakest defects "
              f"{np.round(bad[:3], 2)} (R^2 units) fit {seconds:.0f} s", flush=True)
