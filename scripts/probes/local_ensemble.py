"""Issue 23 probe: do several fitted local models, averaged, rank and localise better than one?

The models may differ in seed or input size (each image is loaded at each model's own input).
Each model's image statistic and map are divided by the median statistic of its own held-out golden
images (model.json), then averaged over the models (maps upsampled to the largest input). Image
AUROC (per type) and pixel AUROC are measured on that grid (masks resized to it with nearest
neighbours; every pixel), for each model alone and for the average, so the figures compare with
each other, not with `evaluate`'s (which measures on each image's own grid).
The last lines blur the averaged map (Gaussian, 1 to 4 cells) before its pixel AUROC.

    python scripts/probes/local_ensemble.py DATASET_ROOT MODEL [MODEL ...] > out.txt
"""

import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from inspect_svdd.evaluate.heatmaps import mask_for
from inspect_svdd.io.images import list_images
from inspect_svdd.io.preprocess import load_image
from inspect_svdd.model.artifact import load_model

torch.set_num_threads(2)
root = Path(sys.argv[1])
models = [load_model(m) for m in sys.argv[2:]]
rows, cols = max(det.config.preprocess.input_shape for det, _ in models)
paths = [p for folder in sorted((root / "test").iterdir()) for p in list_images(folder)]
groups = np.array([p.parent.name for p in paths])
labels = groups != "good"
masks = []
for p in paths:
    found = mask_for(p, root / "test") if p.parent.name != "good" else None
    m = cv2.imread(str(found), cv2.IMREAD_GRAYSCALE) if found is not None else None
    masks.append(cv2.resize(m, (cols, rows), interpolation=cv2.INTER_NEAREST) > 127 if m is not None
                 else np.zeros((rows, cols), bool))
truth = np.concatenate([m.ravel() for m in masks])


def report(name: str, stat: np.ndarray, maps: np.ndarray) -> None:
    """One line: image AUROC overall and per type, pixel AUROC of the maps upsampled to the grid."""
    per = " ".join(f"{g} {100 * roc_auc_score(labels[(groups == g) | ~labels], stat[(groups == g) | ~labels]):.1f}"
                   for g in sorted(set(groups) - {"good"}))
    up = F.interpolate(torch.from_numpy(maps)[:, None].float(), size=(rows, cols), mode="bilinear",
                       align_corners=False)[:, 0].numpy()
    pix = roc_auc_score(truth, up.ravel())
    per_pix = " ".join(f"{g} {100 * roc_auc_score(truth_of(g), up[(groups == g) | ~labels].ravel()):.1f}"
                       for g in sorted(set(groups) - {"good"}))
    print(f"{name}: image AUROC {100 * roc_auc_score(labels, stat):.1f} ({per}); pixel AUROC {100 * pix:.1f} ({per_pix})",
          flush=True)


def truth_of(group: str) -> np.ndarray:
    """The masks of the good images and of one defect type, flattened in image order."""
    return np.concatenate([m.ravel() for m, g in zip(masks, groups, strict=True) if g in (group, "good")])


stats, maps = [], []
for (det, record), name in zip(models, sys.argv[2:], strict=True):
    norm = float(np.median(record["holdout"]["distances"]))
    images = np.stack([load_image(p, det.config.preprocess) for p in paths])
    stats.append(det.distances(images) / norm)
    maps.append(F.interpolate(torch.from_numpy(det.maps(images) / norm)[:, None].float(), size=(rows // 4, cols // 4),
                              mode="bilinear", align_corners=False)[:, 0].numpy())
    report(name, stats[-1], maps[-1])
report(f"mean of {len(models)}", np.mean(stats, 0), np.mean(maps, 0))
report(f"max of {len(models)}", np.max(stats, 0), np.max(maps, 0))
mean_map = np.mean(maps, 0)
report(f"largest cell of the mean map of {len(models)}", mean_map.reshape(len(mean_map), -1).max(1), mean_map)
for sigma in (1.0, 2.0, 4.0):  # the mean map blurred (Gaussian, sigma in cells) for the pixel AUROC; statistic unchanged
    blurred = np.stack([cv2.GaussianBlur(m, (0, 0), sigma) for m in mean_map.astype(np.float32)])
    report(f"mean of {len(models)}, map blurred sigma {sigma:g} cells (statistic: mean of the statistics)",
           np.mean(stats, 0), blurred)
