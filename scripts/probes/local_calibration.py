"""Issue 23 probe: a saved local model's map under each calibration, image and pixel AUROC, no retraining.

    python scripts/probes/local_calibration.py MODEL_DIR DATASET_ROOT > out.txt
    python scripts/probes/local_calibration.py MODEL_DIR DATASET_ROOT smoothing > out.txt

DATASET_ROOT in the MVTec AD layout (train/good, test/<type>, ground_truth/<type>). For each map
calibration (none, position, image) the head is refitted on the model's own training images (the
fit's deterministic split of train/good) and the test set is scored: image AUROC overall and per
defect type, and pixel AUROC with the map upsampled to the network input (every 4th pixel, masks
resized the same way; `inspect-svdd evaluate` measures on each image's own grid instead).
With ``smoothing``: the image AUROC of the ``position`` calibration with the map smoothed over 1, 3, 5
and 7 cells, and with the image statistic the mean of the top 4, 16 or 64 cells instead of the largest.
"""

import dataclasses
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from inspect_svdd.evaluate.heatmaps import mask_for
from inspect_svdd.io.datasets import load_folder
from inspect_svdd.io.images import decode_image, list_images
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.local_net import MapHead
from inspect_svdd.model.train import embed

torch.set_num_threads(1)
det, record = load_model(sys.argv[1])
root = Path(sys.argv[2])
cfg = det.config
size = cfg.preprocess.input_size
golden = load_folder(root / "train" / "good", cfg.preprocess, str(cfg.preprocess.channels)).images
train_images, _ = det._split(golden)
net = det.encoder_
start = time.perf_counter()
raw_train = embed(net, train_images, 32)
paths = [p for group in sorted((root / "test").iterdir()) for p in list_images(group)]
loaded = load_folder(root / "test", cfg.preprocess, str(cfg.preprocess.channels), paths=paths)
paths = [Path(p) for p in loaded.files]  # the loader's order (and only what it could read)
raw_test = embed(net, loaded.images, 32)
groups = np.array([p.parent.name for p in paths])
labels = groups != "good"
print(f"model {sys.argv[1]} ({cfg.local.map_calibration} when fitted), {len(train_images)} training images, "
      f"{len(paths)} test images; embedding {time.perf_counter() - start:.0f} s")


def image_auroc(scores: np.ndarray) -> str:
    """Image AUROC overall and per defect type, in percent, as one line."""
    per_type = {g: 100 * roc_auc_score(labels[(groups == g) | ~labels], scores[(groups == g) | ~labels])
                for g in sorted(set(groups) - {"good"})}
    return f"image AUROC {100 * roc_auc_score(labels, scores):.1f}  " + "  ".join(f"{g} {v:.1f}" for g, v in per_type.items())


if len(sys.argv) > 3 and sys.argv[3] == "smoothing":
    for smoothing in (1, 3, 5, 7):
        with torch.no_grad():
            flat = MapHead(net.grid, smoothing, "position").fit(raw_train).map(raw_test).flatten(1)
        print(f"smoothing {smoothing}, largest cell  {image_auroc(flat.amax(1).numpy())}")
        for k in (4, 16, 64):
            print(f"smoothing {smoothing}, top {k:2d} mean  {image_auroc(flat.topk(k, dim=1).values.mean(1).numpy())}")
    sys.exit(0)
masks = []
for path in paths:
    found = mask_for(path, root / "test") if path.parent.name != "good" else None
    mask = np.zeros((size, size), bool)
    if found is not None:
        mask = cv2.resize((decode_image(found)[:, :, 0] > 127).astype(np.uint8), (size, size),
                          interpolation=cv2.INTER_NEAREST) > 0
    masks.append(mask[::4, ::4])
for calibration in ("none", "position", "image"):
    head = MapHead(net.grid, cfg.local.map_smoothing, calibration).fit(raw_train)
    with torch.no_grad():
        maps = head.map(raw_test)
    scores = maps.flatten(1).amax(1).numpy()
    heat = torch.nn.functional.interpolate(maps[:, None], size=(size, size), mode="bilinear", align_corners=False)
    heat = heat[:, 0, ::4, ::4].numpy()
    keep = [i for i in range(len(paths)) if not labels[i] or masks[i].any()]
    pixel = roc_auc_score(np.concatenate([masks[i].ravel() for i in keep]), np.concatenate([heat[i].ravel() for i in keep]))
    within = [roc_auc_score(masks[i].ravel(), heat[i].ravel()) for i in range(len(paths))
              if labels[i] and 0 < masks[i].sum() < masks[i].size]
    print(f"{calibration:8s} pixel AUROC {100 * pixel:.1f}  within-image {100 * float(np.mean(within)):.1f}  "
          + image_auroc(scores))
print(dataclasses.asdict(cfg.local), "fit seconds", record.get("training", {}).get("seconds"))
