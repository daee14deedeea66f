"""Probe: RCAE's lambda on MNIST at 1 % pollution (issue 26): the noise part's size, where it lies, test AUROC.

Usage: python scripts/probes/rcae_lambda.py DIGIT LAMBDA [LAMBDA ...]  (subset: 1,000 training images, seed 0)
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
from sklearn.metrics import roc_auc_score

from inspect_svdd.bench.data import load_torchvision, one_class_split, pollute_with_classes
from inspect_svdd.bench.recipe import load_recipe
from inspect_svdd.bench.runner import _resized
from inspect_svdd.model.detector import DeepSVDD


def main() -> None:
    """Fit with each lambda and print the noise part's figures and the test AUROC."""
    digit, lambdas = int(sys.argv[1]), [float(v) for v in sys.argv[2:]]
    cfg = load_recipe("recipes/mnist.yaml").config("paper-rcae-pollution-1", "subset", 0)
    data = load_torchvision("mnist", "../shared/datasets")
    split = pollute_with_classes(one_class_split(data, digit, 1000, 2000, 0), data, digit, 0.01, 0)
    train, test = _resized(split.train, cfg.preprocess), _resized(split.test, cfg.preprocess)
    planted = np.asarray(split.planted)
    for lam in lambdas:
        det = DeepSVDD(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, ae_lambda=lam)))
        det.fit(train, progress=False)
        noise = det.noise_.abs().flatten(1).mean(1).numpy()  # type: ignore[union-attr]
        mask = np.zeros(len(train), bool)
        mask[planted] = True
        share = det.history_[[h["stage"] for h in det.history_].index("svdd") - 1]["noise_share"]
        print(f"lambda {lam}: noise share {share:.4f}, mean |N| planted {noise[mask].mean():.4f} vs golden "
              f"{noise[~mask].mean():.4f}, noise AUROC of planted {roc_auc_score(mask, noise):.4f}, "
              f"test AUROC {roc_auc_score(split.test_anomalous, det.score(test)):.4f}", flush=True)


if __name__ == "__main__":
    main()
