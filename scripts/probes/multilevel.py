"""Global-pooled features of every convolution stage (Gaussian-AD-like) vs the final embedding (measured probe).

python scripts/probes/multilevel.py casting 0        # full golden set, default fit, seed 0

For each stage, the stage's feature map pooled over positions (mean and max),
scored by k-NN (k = 5) and Ledoit-Wolf Mahalanobis fitted on the training
images; also the concatenation of all stages. AUROC and the escape rate at
the threshold that rejects 2 % of test/good (oracle).
"""

import sys
import time

import numpy as np
import torch
from inspect_svdd.detector import DeepSVDD
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from inspect_svdd.bench.data import load_mvtec
from inspect_svdd.bench.runner import escape_at_frr
from inspect_svdd.config import FitConfig, PreprocessConfig

torch.set_num_threads(1)
split, pre = load_mvtec(f"../shared/datasets/{sys.argv[1]}", PreprocessConfig(), "auto", None, None, 0)
start = time.time()
det = DeepSVDD(FitConfig(pre)).fit(split.train, progress=False)
print(f"fit {time.time() - start:.0f} s", flush=True)
encoder = det.encoder_
assert encoder is not None
y = split.test_anomalous


def pooled(images: np.ndarray) -> list[np.ndarray]:
    """Per stage: [mean-pooled, max-pooled] channels (N x 2C)."""
    out: list[list[torch.Tensor]] = []
    with torch.no_grad():
        for i in range(0, len(images), 64):
            x = encoder.adapter(torch.from_numpy(images[i : i + 64]))
            feats = []
            for layer_index, layer in enumerate(encoder.features):
                x = layer(x)
                if layer_index % 3 == 2:  # end of a conv-BN-activation stage
                    feats.append(torch.cat([x.mean((2, 3)), x.amax((2, 3))], 1))
            out.append(feats)
    return [torch.cat([b[s] for b in out]).double().numpy() for s in range(len(out[0]))]


def report(name: str, a: np.ndarray, b: np.ndarray) -> None:
    """Print AUROC and oracle escape of k-NN and Mahalanobis on standardised features."""
    mu, sd = a.mean(0), a.std(0) + 1e-6
    a, b = (a - mu) / sd, (b - mu) / sd
    knn = NearestNeighbors(n_neighbors=5).fit(a).kneighbors(b)[0].mean(1)
    lw = LedoitWolf().fit(a)
    maha = lw.mahalanobis(b)
    for rule, s in (("knn", knn), ("mahalanobis", maha)):
        print(f"{name:10s} {rule:11s} AUROC {roc_auc_score(y, s):.3f} escape@2% {escape_at_frr(y, s, 0.02):.3f}", flush=True)


train, test = pooled(split.train), pooled(split.test)
for s in range(len(train)):
    report(f"stage {s + 1}", train[s], test[s])
report("stages 3-5", np.hstack(train[2:]), np.hstack(test[2:]))
report("all", np.hstack(train), np.hstack(test))
report("embedding", det.embeddings(split.train).double().numpy(), det.embeddings(split.test).double().numpy())
