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
from labelled_set import figures, figures_header, load_probe_set, nearest_cells, smooth
from sklearn.metrics import roc_auc_score

torch.set_num_threads(1)
golden_dir, labelled, model_dir = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
BANK = int(sys.argv[4]) if len(sys.argv) > 4 else 20_000
STAGES = [int(k) for k in sys.argv[5].split(",")] if len(sys.argv) > 5 else None
STANDARDISED = "standardised" in sys.argv[6:]
data = load_probe_set(model_dir, golden_dir, labelled)
net = data.det.encoder_


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
    scale = nearest_cells(ho, bank).mean()
    maps[f"stage {k + 1} ({te.shape[2]}x{te.shape[3]})"] = nearest_cells(te, bank) / scale
print(f"{len(data.train)} training, {len(data.hold)} held-out golden images, {len(data.test)} test images; "
      f"bank {BANK} cells per stage{', standardised' if STANDARDISED else ''}; {time.time() - start:.0f} s")

names = list(maps)
finest = max(m.shape[1] for m in maps.values())
for first in range(len(names) - 1):  # a stage and every coarser one, added
    for last in range(first + 1, len(names)):
        key = " + ".join(n.split(" (")[0] for n in names[first:last + 1])
        maps[key] = sum(F.interpolate(maps[n][:, None], size=(finest, finest), mode="bilinear",
                                      align_corners=False)[:, 0] for n in names[first:last + 1])

print(figures_header(data, ["map"], ("image AUROC, the map's mean",)))
for key, m in maps.items():
    sm = smooth(m)
    row = figures(data, sm.flatten(1).amax(1).numpy(), sm)
    row.insert(1, f"{100 * roc_auc_score(data.labels, m.flatten(1).mean(1)):.1f}")
    print(f"| {key} | " + " | ".join(row) + " |", flush=True)
