"""Patch-level Mahalanobis on the trained encoder's feature maps (PaDiM-like; measured, not kept).

python scripts/probes/patch_mahalanobis.py casting        # 200 golden images, 10 + 50 epochs
python scripts/probes/patch_mahalanobis.py magnetic_tile
"""

import sys

import numpy as np
import torch
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score

from inspect_svdd.bench.data import load_mvtec
from inspect_svdd.config import FitConfig, PreprocessConfig, ScoreConfig
from inspect_svdd.model.detector import DeepSVDD

torch.set_num_threads(1)
split, pre = load_mvtec(f"../shared/datasets/{sys.argv[1]}", PreprocessConfig(), "auto", 200, None, 0)
det = DeepSVDD(FitConfig(pre, score=ScoreConfig("mahalanobis"))).fit(split.train, progress=False)
print("global Mahalanobis AUROC", round(roc_auc_score(split.test_anomalous, det.score(split.test)), 3))
encoder = det.encoder_
assert encoder is not None


def feature_maps(images: np.ndarray, stage: int) -> torch.Tensor:
    """Output of the first ``stage`` convolution stages (N x C x H x W)."""
    with torch.no_grad():
        return torch.cat([encoder.features[: 3 * stage](encoder.adapter(torch.from_numpy(images[i : i + 64])))
                          for i in range(0, len(images), 64)])


for stage in (2, 3, 4):
    train, test = feature_maps(split.train, stage), feature_maps(split.test, stage)
    n, c, h, w = train.shape
    a = train.permute(0, 2, 3, 1).reshape(n, h * w, c).double().numpy()
    b = test.permute(0, 2, 3, 1).reshape(len(test), h * w, c).double().numpy()
    mean = a.mean(0)  # one mean per position, one shared shrunk covariance
    precision = LedoitWolf().fit((a - mean).reshape(-1, c)[:: max(1, n * h * w // 50000)]).precision_
    d = np.einsum("nph,hk,npk->np", b - mean, precision, b - mean)
    print(f"stage {stage} ({c}x{h}x{w}): worst position AUROC {roc_auc_score(split.test_anomalous, d.max(1)):.3f}", flush=True)
