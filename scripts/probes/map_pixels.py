"""Issue 23 probe: each cell's mean input pixels added to a registered local model's per-place map, no retraining.

    python scripts/probes/map_pixels.py MODEL_DIR 0,1,3 > out.txt

MODEL_DIR: a local model fitted on samples/golden with the per-place reference and without
``--map-pixels`` (a model saved before the setting, or fitted with ``--no-map-pixels``). For each
weight lambda the map becomes the model's per-place map plus lambda times a diagonal Gaussian per
cell on the cell's mean standardised pixels (golden training images' mean and variance, floored at
1 % of the mean variance: what ``--map-pixels`` builds in with lambda 1). The head is refitted on the
training images; then for samples/incoming: how many defects have their hottest region on the mask
(as ``evaluate`` counts), the image AUROC of the heat's peak, and for each missing print (and each
miss) the margin: the heat's peak within 16 px of the mask over its peak elsewhere (above 1: the
print's place is the hottest).
"""

import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from inspect_svdd.deploy.torch_backend import TorchBackend
from inspect_svdd.evaluate.heatmaps import HeatMapper, hottest_region
from inspect_svdd.io.datasets import load_folder
from inspect_svdd.io.images import list_images
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.local_net import LocalNet
from inspect_svdd.model.train import embed

torch.set_num_threads(1)
det, _ = load_model(sys.argv[1])
cfg, net = det.config, det.encoder_
if cfg.local.map_pixels or cfg.local.map_reference != "position":
    sys.exit(f"{sys.argv[1]}: a per-place model without --map-pixels is needed")
golden = load_folder(Path("samples/golden"), cfg.preprocess, str(cfg.preprocess.channels)).images
train = det._split(det._inputs(golden))[0]  # as fit: registered, then the deterministic split
with torch.no_grad():
    cells = F.avg_pool2d(net.adapter(torch.from_numpy(train)), 4).double()
mean, var = cells.mean(0, keepdim=True).float(), cells.var(0, keepdim=True)
weight = (1.0 / (var + 0.01 * var.mean())).float()
features_only = LocalNet.distance_map
lam = [0.0]


def distance_map(self: LocalNet, x: torch.Tensor) -> torch.Tensor:
    """The model's per-place map plus lambda times the cells' pixel Gaussian."""
    pixels = ((F.avg_pool2d(self.adapter(x), 4) - mean) ** 2 * weight).sum(1)
    return features_only(self, x) + lam[0] * pixels


LocalNet.distance_map = distance_map  # type: ignore[method-assign]
incoming = Path("samples/incoming")
files = [p for group in sorted(incoming.iterdir()) if group.is_dir() for p in list_images(group)]
print(f"model {sys.argv[1]}, {len(train)} training images, {len(files)} images of {incoming}")
for value in [float(v) for v in sys.argv[2].split(",")]:
    lam[0] = value
    det.head_.fit(embed(net, train, 32))
    mapper = HeatMapper(TorchBackend(det), "map")
    hits: dict[str, int] = {}
    peaks, labels, notes = [], [], []
    for src in files:
        kind = src.parent.name
        _, heat = mapper.of_file(src)
        peaks.append(float(heat.max()))
        labels.append(kind != "good")
        if kind == "good":
            continue
        mask = cv2.imread(str(incoming.parent / "ground_truth" / kind / f"{src.stem}_mask.png"), 0) > 0
        hit = bool((hottest_region(heat) & mask).any())
        hits[kind] = hits.get(kind, 0) + hit
        near = cv2.dilate(mask.astype(np.uint8), np.ones((33, 33), np.uint8)) > 0
        if kind == "missing_print" or not hit:
            notes.append(f"{src.stem} {'hit' if hit else 'MISS'}, margin {heat[near].max() / heat[~near].max():.2f}")
    print(f"lambda {value:g}: hottest region on {sum(hits.values())} of {sum(labels)} defects "
          f"({', '.join(f'{k} {v}' for k, v in sorted(hits.items()))}); image AUROC of the peak "
          f"{100 * roc_auc_score(labels, peaks):.1f}")
    print("    " + "; ".join(notes))
