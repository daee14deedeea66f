"""Issue 23 probe: a local model's image statistic from its map, every calibration, smoothing and pooling, no retraining.

    python scripts/probes/map_statistics.py MODEL_DIR DATASET_ROOT > out.txt

DATASET_ROOT in the MVTec AD layout (train/good, test/<type>; no masks needed). The head is refitted
on the model's own training images (fit's deterministic split of train/good) for each map
calibration (position, none, image) and smoothing (1, 3, 5, 7 cells); the test set's image AUROC is
printed for the map's largest cell (the model's statistic: position, 3 cells by default), the mean
of its 16, 64 or 256 hottest cells, and its mean.
"""

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from inspect_svdd.io.datasets import load_folder
from inspect_svdd.io.images import list_images
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.local_net import MapHead
from inspect_svdd.model.train import embed

det, record = load_model(sys.argv[1])
cfg, net = det.config, det.encoder_
root = Path(sys.argv[2])
golden = load_folder(root / "train" / "good", cfg.preprocess, str(cfg.preprocess.channels)).images
raw_train = embed(net, det._split(golden)[0], 32)
paths = [p for group in sorted((root / "test").iterdir()) for p in list_images(group)]
loaded = load_folder(root / "test", cfg.preprocess, str(cfg.preprocess.channels), paths=paths)
labels = np.array([Path(p).parent.name != "good" for p in loaded.files])
raw_test = embed(net, loaded.images, 32)
print(f"model {sys.argv[1]}: {len(raw_train)} training images, {len(labels)} test images ({labels.sum()} defective); "
      f"loss {cfg.local.local_loss}, reference {cfg.local.map_reference}, {cfg.local.local_context} context blocks")
for calibration in ("position", "none", "image"):
    for smoothing in (1, 3, 5, 7):
        with torch.no_grad():
            flat = MapHead(net.grid, smoothing, calibration).fit(raw_train).map(raw_test).flatten(1)
        pooled = {"largest cell": flat.amax(1)} | {f"top {k} mean": flat.topk(k, 1).values.mean(1) for k in (16, 64, 256)}
        pooled["map mean"] = flat.mean(1)
        print(f"{calibration:8s} smoothing {smoothing}: "
              + "  ".join(f"{name} {100 * roc_auc_score(labels, v.numpy()):.1f}" for name, v in pooled.items()))
