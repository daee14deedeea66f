"""Issue 23 probe: what each cell of the local model's map should be compared with.

The local model's map is each cell's distance to one centre c, the same for every position: a plain
patch is normal anywhere, so a print that is missing from its place looks normal. When the parts are
registered (the samples), each position has its own golden statistics. This probe takes a fitted
local model, computes its cell features for the golden training images (the model's own split) and
compares, for every test image, the model's map with
  - ``position``: each cell's squared distance to the golden cells' mean at that position, divided
    per feature by their variance there (a diagonal Gaussian per position, as PaDiM does with
    pretrained features; here the features are the model's own),
  - ``position+map``: the two maps, each divided by its held-out golden images' median statistic, added,
  - ``knn BANK``: each cell's squared distance to its nearest golden training cell, the bank a seeded
    random draw of BANK cells (PatchCore-style nearest-neighbour scoring with the model's own features),
  - ``pooled``: each cell's squared Mahalanobis distance to all golden training cells pooled (one mean
    and one full covariance, shrunk towards its diagonal mean by ``SHRINK``; for textures, where a
    position has no meaning): the centre's Euclidean distance with the features' spread accounted for.
Each map is smoothed over 3 x 3 cells like the model's; the image statistic is its largest cell; the
radius comes from the held-out golden images by the model's own rule. Image AUROC (per type),
defects passing and good parts rejected at that radius, pixel AUROC and the hottest-region hits
(evaluate's measures, on the network grid).

    python scripts/probes/map_reference.py GOLDEN LABELLED MODEL [FLOOR,FLOOR,...] [pooled [BANK,BANK,...]] > out.txt
"""

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from labelled_set import load_probe_set, nearest_cells, smooth
from sklearn.metrics import roc_auc_score

from inspect_svdd.evaluate.heatmaps import localisation
from inspect_svdd.model.hypersphere import fit_radius

torch.set_num_threads(1)
golden_dir, labelled, model_dir = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
data = load_probe_set(model_dir, golden_dir, labelled)
det, train, hold, test, masks = data.det, data.train, data.hold, data.test, data.masks
paths, groups, labels = data.paths, data.groups, data.labels
cfg = det.config
rows, cols = cfg.preprocess.input_shape
net = det.encoder_


def features(images: np.ndarray) -> torch.Tensor:
    """The network's cell features of registered images: N x dim x grid."""
    with torch.no_grad():
        return torch.cat([net.cell_features(torch.from_numpy(images[i:i + 32])) for i in range(0, len(images), 32)])


f_train = features(train)
mu, var = f_train.mean(0, keepdim=True), f_train.var(0, keepdim=True)
FLOORS = [float(f) for f in (sys.argv[4] if len(sys.argv) > 4 else "0.01").split(",")]
POOLED_ONLY = sys.argv[5:6] == ["pooled"]  # a texture: no per-place statistics
BANKS = [int(b) for b in sys.argv[6].split(",")] if len(sys.argv) > 6 else []
SHRINK = 0.01
cells = f_train.permute(0, 2, 3, 1).reshape(-1, f_train.shape[1]).double()
pooled_mean = cells.mean(0)
cov = torch.cov((cells - pooled_mean).T)
cov = (1 - SHRINK) * cov + SHRINK * torch.eye(len(cov), dtype=cov.dtype) * cov.diagonal().mean()
precision = torch.linalg.inv(cov).float()
pooled_mean = pooled_mean.float()


def pooled(images: np.ndarray) -> torch.Tensor:
    """Each cell's squared Mahalanobis distance to the pooled golden cells, smoothed."""
    d = features(images).permute(0, 2, 3, 1) - pooled_mean
    return smooth(torch.einsum("nhwd,de,nhwe->nhw", d, precision, d))


def positional(images: np.ndarray, floor: float = 0.01) -> torch.Tensor:
    """floor: the variance floor as a share of the mean variance (a feature constant at one place must not divide by ~0)."""
    return smooth(((features(images) - mu) ** 2 / (var + floor * float(var.mean()))).mean(1))


def model_map(images: np.ndarray) -> torch.Tensor:
    """The model's own map of registered images (its head on its network)."""
    with torch.no_grad():
        return torch.cat([det.head_.map(net(torch.from_numpy(images[i:i + 32]))) for i in range(0, len(images), 32)])


def report(name: str, hold_map: torch.Tensor, test_map: torch.Tensor) -> None:
    """One line: image AUROC (per type), verdicts at the held-out radius, pixel AUROC, hottest-region hits."""
    hold_stat = hold_map.flatten(1).amax(1).numpy().astype(np.float64)
    stat = test_map.flatten(1).amax(1).numpy()
    radius, _ = fit_radius(hold_stat, cfg.train.target_frr, cfg.train.radius_rule, cfg.train.radius_confidence)
    fail = stat > radius**2
    per = " ".join(f"{g} {100 * roc_auc_score(labels[(groups == g) | ~labels], stat[(groups == g) | ~labels]):.1f}"
                   for g in sorted(set(groups) - {"good"}))
    up = F.interpolate(test_map[:, None], size=(rows, cols), mode="bilinear", align_corners=False)[:, 0].numpy()
    loc = localisation(list(up), masks, list(groups))
    passing = [p.name for p, bad, f in zip(paths, labels, fail, strict=True) if bad and not f]
    rejected = [p.name for p, bad, f in zip(paths, labels, fail, strict=True) if not bad and f]
    missed = [p.name for p, m, u in zip(paths, masks, up, strict=True)
              if m.any() and not localisation([u], [m])["hottest_region_hits"]]
    print(f"{name}: image AUROC {100 * roc_auc_score(labels, stat):.1f} ({per}); defects passing {len(passing)} of "
          f"{labels.sum()} {passing}; good rejected {len(rejected)} of {(~labels).sum()} {rejected}; pixel AUROC " +
          (f"{100 * loc['pixel_auroc']:.1f}; hottest region on {round(loc['hottest_region_hits'] * loc['defects'])} of "
           f"{loc['defects']} (missed {missed})" if loc["defects"] else "n/a (no masks)"), flush=True)


print(f"# model {model_dir}: {len(train)} training, {len(hold)} held-out golden images; {len(paths)} test images")
maps_hold, maps_test = model_map(hold), model_map(test)
report("model map", maps_hold, maps_test)
if not POOLED_ONLY:
    for floor in FLOORS:
        pos_hold, pos_test = positional(hold, floor), positional(test, floor)
        report(f"position (variance floor {floor} x mean)", pos_hold, pos_test)
    pos_hold, pos_test = positional(hold, FLOORS[0]), positional(test, FLOORS[0])
    a = float(maps_hold.flatten(1).amax(1).median())
    b = float(pos_hold.flatten(1).amax(1).median())
    report("position+map", maps_hold / a + pos_hold / b, maps_test / a + pos_test / b)
report("pooled", pooled(hold), pooled(test))


def nearest(images: np.ndarray, bank: torch.Tensor) -> torch.Tensor:
    """Each cell's squared distance to its nearest bank cell, smoothed."""
    return smooth(nearest_cells(features(images), bank))


for size in BANKS:
    drawn = torch.from_numpy(np.random.default_rng(0).choice(len(cells), min(size, len(cells)), replace=False))
    bank = cells[drawn].float()
    report(f"knn, bank of {len(bank)} cells", nearest(hold, bank), nearest(test, bank))
