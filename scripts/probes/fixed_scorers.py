"""Real test figures of named scorers on a saved model (no training, no selection): for trying fixed rules.

    python scripts/probes/fixed_scorers.py MODEL_DIR DATASET_ROOT NAME [NAME ...]

NAME as in the selection tables: ``knn/stages``, ``mahalanobis/both``, ``fusion:knn/stages+mahalanobis/both``.
The radius of each is set from the fit's own held-out golden images, as fit does; RADIUS_RULE=tail (or
quantile) in the environment sets it by that rule instead of the model's; RANKS=1 also prints every test
image's statistic in units of R^2, ascending (* rejected).
"""

import dataclasses
import os
import sys

import numpy as np
import torch

from inspect_svdd.bench.data import load_mvtec
from inspect_svdd.bench.runner import candidate_result
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.heads import feature_slice

torch.set_num_threads(1)
det, _ = load_model(sys.argv[1])
split, _ = load_mvtec(sys.argv[2], det.config.preprocess, str(det.config.preprocess.channels))
both = det.embeddings(split.test, kind="both")
train = dataclasses.replace(det.config.train, radius_rule=os.environ.get("RADIUS_RULE", det.config.train.radius_rule))
for name in sys.argv[3:]:
    other, test = candidate_result(det, split, name, both, train)
    print(f"{name:80s} test AUROC {100 * test['auroc']:5.1f}  escape at R {100 * test['test_escape_rate']:5.1f} %  "
          f"false rejects {100 * test['test_false_reject_rate']:5.1f} %")
    if os.environ.get("RANKS"):
        features = both[:, feature_slice(other.config.score.feature_kind, det._fitted()[0].feature_dim("stages"))]
        stats = other.statistics(features) / float(other.radius_) ** 2
        print("  " + " ".join(f"{split.test_groups[i]}/{i}:{stats[i]:.2f}{'*' if stats[i] > 1 else ''}"
                              for i in np.argsort(stats)))
