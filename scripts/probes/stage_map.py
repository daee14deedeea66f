"""Issue 23 probe: a dense anomaly map from the global model's convolution stages.

The global model's nearest-neighbour rule on its pooled stage features (mean and maximum of each
stage's output over positions) ranks the castings at 99.7, while the local model's cells reach
about 83 with any reference (`local/casting-map-reference-probe.txt`). This probe keeps the global
model's trained encoder and scores every cell of each stage's output instead of pooling it: each
cell's squared distance to its nearest golden training cell of the same stage (a seeded random
bank of BANK cells per stage, PatchCore-style), divided by the held-out golden images' mean cell
distance of that stage, smoothed over 3 x 3 cells. The image statistic is the map's largest cell
(and, for comparison, the unsmoothed map's mean);
a combined map adds the chosen stages' maps, each upsampled to the finest of them. Image AUROC
(per type), and with masks the pixel AUROC and hottest-region hits on the network grid.

With ``standardised`` each stage's cells are first standardised per channel by the golden training
cells' mean and standard deviation (the pooled k-NN rule standardises its features alike); STAGES
(e.g. ``3,4,5``) keeps those stages only.

    python scripts/probes/stage_map.py GOLDEN LABELLED GLOBAL_MODEL [BANK [STAGES [standardised]]] > out.txt
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from labelled_set import load_probe_set
from sklearn.metrics import roc_auc_score

from inspect_svdd.evaluate.heatmaps import localisation

torch.set_num_threads(1)
golden_dir, labelled, model_dir = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
BANK = int(sys.argv[4]) if len(sys.argv) > 4 else 20_000
STAGES = [int(k) for k in sys.argv[5].split(",")] if len(sys.argv) > 5 else None
STANDARDISED = "standardised" in sys.argv[6:]
data = load_probe_set(model_dir, golden_dir, labelled)
net = data.det.encoder_
rows, cols = data.det.config.preprocess.input_shape


def stage_maps(images: np.ndarray) -> list[torch.Tensor]:
    """Each stage's output for ``images``: one N x C x h x w tensor per stage."""
    outs: list[list[torch.Tensor]] = [[] for _ in net.stage_ends]
    with torch.no_grad():
        for i in range(0, len(images), 32):
            x = net.adapter(torch.from_numpy(images[i:i + 32]))
            k = 0
            for index, layer in enumerate(net.features):
                x = layer(x)
                if index in net.stage_ends:
                    outs[k].append(x.clone())
                    k += 1
    return [torch.cat(o) for o in outs]


def nearest(cells: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Each image's map of squared distances to the nearest bank cell: N x C x h x w -> N x h x w."""
    n, c, h, w = cells.shape
    flat = cells.permute(0, 2, 3, 1).reshape(n, h * w, c)
    out = torch.stack([torch.cdist(f, bank).amin(dim=1) ** 2 for f in flat])
    return out.reshape(n, h, w)


def smooth(m: torch.Tensor) -> torch.Tensor:
    """The local model's 3 x 3-cell box filter."""
    return F.avg_pool2d(m[:, None], 3, 1, 1, count_include_pad=False)[:, 0]


start = time.time()
rng = np.random.default_rng(0)
train_maps, hold_maps, test_maps = stage_maps(data.train), stage_maps(data.hold), stage_maps(data.test)
maps: dict[str, torch.Tensor] = {}
for k, (tr, ho, te) in enumerate(zip(train_maps, hold_maps, test_maps, strict=True)):
    if STAGES is not None and k + 1 not in STAGES:
        continue
    cells = tr.permute(0, 2, 3, 1).reshape(-1, tr.shape[1])
    if STANDARDISED:
        mean, std = cells.mean(0), cells.std(0)
        std = std.clamp_min(0.05 * float(std.median()) + 1e-12)
        tr, ho, te = ((m - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1) for m in (tr, ho, te))
        cells = (cells - mean) / std
    bank = cells[torch.from_numpy(rng.choice(len(cells), size=min(BANK, len(cells)), replace=False))]
    scale = nearest(ho, bank).mean()
    maps[f"stage {k + 1} ({te.shape[2]}x{te.shape[3]})"] = nearest(te, bank) / scale
print(f"{len(data.train)} training, {len(data.hold)} held-out golden images, {len(data.test)} test images; "
      f"bank {BANK} cells per stage{', standardised' if STANDARDISED else ''}; {time.time() - start:.0f} s")

names = list(maps)
finest = max(m.shape[1] for m in maps.values())
for first in range(len(names) - 1):  # a stage and every coarser one, added
    for last in range(first + 1, len(names)):
        key = " + ".join(n.split(" (")[0] for n in names[first:last + 1])
        maps[key] = sum(F.interpolate(maps[n][:, None], size=(finest, finest), mode="bilinear",
                                      align_corners=False)[:, 0] for n in names[first:last + 1])

has_masks = any(m.any() for m in data.masks)
types = sorted(set(data.groups) - {"good"})
header = ["map", "image AUROC", "image AUROC, the map's mean", *types]
header += ["pixel AUROC", "hottest region on the defect"] if has_masks else []
print("| " + " | ".join(header) + " |")
print("|---" * len(header) + "|")
for key, m in maps.items():
    sm = smooth(m)
    stat = sm.flatten(1).amax(1).numpy()
    row = [f"{100 * roc_auc_score(data.labels, stat):.1f}", f"{100 * roc_auc_score(data.labels, m.flatten(1).mean(1)):.1f}"]
    for t in types:
        keep = (data.groups == t) | (data.groups == "good")
        row.append(f"{100 * roc_auc_score(data.labels[keep], stat[keep]):.1f}")
    if has_masks:
        heats = [np.asarray(F.interpolate(s[None, None], size=(rows, cols), mode="bilinear",
                                          align_corners=False)[0, 0]) for s in sm]
        loc = localisation(heats, data.masks)
        row += [f"{100 * loc['pixel_auroc']:.1f}", f"{100 * loc['hottest_region_hits']:.1f} %"]
    print(f"| {key} | " + " | ".join(row) + " |", flush=True)
