"""Issue 23 probe: what each level of a two-scale local model (``--local-scales 2``) contributes.

From one fitted model's network pass over the test set: the finer level's map alone, the coarser
level's alone (each smoothed, calibrated and divided by its golden median as in the model's head),
the model's own statistic (the largest cell of the two averaged on the finer grid), the mean of
the two levels' largest cells, and the larger of them. Image AUROC per type, pixel AUROC and
hottest-region hits on the network grid (each map upsampled to the input).

    python scripts/probes/local_levels.py GOLDEN LABELLED LOCAL_MODEL > out.txt
"""

import sys
from pathlib import Path

import torch
from labelled_set import figures, figures_header, load_probe_set

torch.set_num_threads(2)
golden_dir, labelled, model_dir = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
data = load_probe_set(model_dir, golden_dir, labelled)
head = data.det.head_
if len(head.grids) != 2:
    sys.exit(f"{model_dir}: not a two-scale local model (fit --local-scales 2)")
with torch.no_grad():
    flat = data.det.embeddings(data.test)
    fine, up = head.on_finest_grid(flat)
    coarse = head.level_maps(flat)[1] / head.norm[1]  # its largest cell on its own grid
    mean_map = head.map(flat)
largest = {"finer": fine.flatten(1).amax(1), "coarser": coarse.flatten(1).amax(1)}
rows = {
    "the finer level alone": (largest["finer"], fine),
    "the coarser level alone": (largest["coarser"], up),
    "largest cell of the averaged map (the model)": (mean_map.flatten(1).amax(1), mean_map),
    "mean of the two largest cells": ((largest["finer"] + largest["coarser"]) / 2, mean_map),
    "larger of the two largest cells": (torch.maximum(largest["finer"], largest["coarser"]), torch.maximum(fine, up)),
}
print(f"# python scripts/probes/local_levels.py {golden_dir} {labelled} {model_dir}")
print(figures_header(data, ["statistic"]))
for name, (stat, maps) in rows.items():
    print("| " + " | ".join([name, *figures(data, stat.numpy(), maps)]) + " |", flush=True)
