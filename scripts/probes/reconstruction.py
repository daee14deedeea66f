"""Autoencoder reconstruction error as an anomaly score (a lever that was measured and not kept).

python scripts/probes/reconstruction.py samples 30
python scripts/probes/reconstruction.py casting 10     # 200 golden images of ../shared/datasets/casting
"""

import sys
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from inspect_svdd.bench.data import load_mvtec
from inspect_svdd.config import FitConfig, PreprocessConfig, TrainConfig
from inspect_svdd.io.datasets import load_folder
from inspect_svdd.io.images import list_images
from inspect_svdd.io.preprocess import load_image
from inspect_svdd.model.detector import DeepSVDD

torch.set_num_threads(1)
name, ae_epochs = sys.argv[1], int(sys.argv[2])
if name == "samples":
    folder = load_folder("samples/golden", PreprocessConfig(), "auto")
    pre, train = folder.preprocess, folder.images
    paths = list_images("samples/incoming")
    test = np.stack([load_image(p, pre) for p in paths])
    y = np.array([p.parent.name != "good" for p in paths])
else:
    split, pre = load_mvtec(f"../shared/datasets/{name}", PreprocessConfig(), "auto", 200, None, 0)
    train, test, y = split.train, split.test, split.test_anomalous
for seed in (0, 1):
    start = time.time()
    ae = DeepSVDD(FitConfig(pre, train=TrainConfig(ae_epochs=ae_epochs, seed=seed))).pretrain(train, progress=False).autoencoder_
    assert ae is not None
    ae.eval()
    errors = []
    with torch.no_grad():
        for i in range(0, len(test), 64):
            recon, target = ae(torch.from_numpy(test[i : i + 64]))
            err = (recon - target) ** 2
            patch = torch.nn.functional.avg_pool2d(err.mean(1, keepdim=True), 8).flatten(1).max(1).values
            errors.append(torch.stack([err.mean((1, 2, 3)), patch], 1))
    e = torch.cat(errors).numpy()
    print(f"{name} seed {seed} {time.time() - start:.0f} s: mean squared error AUROC {roc_auc_score(y, e[:, 0]):.3f}, "
          f"worst 8x8 patch AUROC {roc_auc_score(y, e[:, 1]):.3f}", flush=True)
