"""Issue 23 probe: the local model's map averaged over mirrored views of the image.

A texture looks alike mirrored, and a defect stays where it is once the map of a mirrored view is
mirrored back; averaging the maps of the image and its mirrored views leaves the defect's cells
and averages out the cells that only one view finds odd. This probe scores a fitted local model's
test set with 1, 2 (left-right) and 4 (left-right, up-down, both) views: the raw distance maps
averaged, then the model's own head (smoothing, calibration refitted on the averaged golden
training maps, largest cell). Image AUROC per type, pixel AUROC and hottest-region hits on the
network grid; scoring costs as many network passes as views.

    python scripts/probes/local_flips.py GOLDEN LABELLED LOCAL_MODEL > out.txt
"""

import copy
import sys
from pathlib import Path

import numpy as np
import torch
from labelled_set import figures, figures_header, load_probe_set

torch.set_num_threads(1)
golden_dir, labelled, model_dir = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
data = load_probe_set(model_dir, golden_dir, labelled)
net, head = data.det.encoder_, data.det.head_
VIEWS = {1: [()], 2: [(), (2,)], 4: [(), (2,), (1,), (1, 2)]}  # NHWC axes mirrored: 2 columns, 1 rows


def raw_maps(images: np.ndarray, views: list[tuple[int, ...]]) -> torch.Tensor:
    """The network's distance maps (before the head), each view's mirrored back, averaged: N x cells."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), 32):
            x = torch.from_numpy(images[i:i + 32])
            total = 0
            for axes in views:
                m = net.distance_map(torch.flip(x, axes) if axes else x)
                total = total + (torch.flip(m, axes) if axes else m)  # map axes 1, 2 are rows, columns too
            out.append((total / len(views)).flatten(1))
    return torch.cat(out)


print(figures_header(data, ["views"]))
for n, views in VIEWS.items():
    h = copy.deepcopy(head).fit(raw_maps(data.train, views))
    with torch.no_grad():
        sm = h.map(raw_maps(data.test, views))
    print(f"| {n} | " + " | ".join(figures(data, sm.flatten(1).amax(1).numpy(), sm)) + " |", flush=True)
