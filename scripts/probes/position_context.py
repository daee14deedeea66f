"""Issue 23 probe: per-place statistics that have seen the rest of the part change.

On registered parts the local model compares each cell with the golden cells at its place (a
diagonal Gaussian per place). A uniform background cell has almost no variance over the golden
parts, so when a defect elsewhere changes the whole image's standardisation (a missing print makes
the part darker), that corner becomes the hottest cell, and the defect itself only the second.

Here the per-place statistics are refitted from the golden training images *plus* ``K`` copies of
each with a synthetic defect (the training defects, ``masked_defect``), counting only the cells
outside each defect's mask: a place learns how much it moves when something elsewhere changes,
not what a defect looks like. The head's calibration and the radius are refitted as ``fit`` does
(the model's own split); the network is not retrained. One line per ``K``: image AUROC (per type),
verdicts at the radius, pixel AUROC and hottest-region hits on the network grid (evaluate's
measures), the defects whose hottest region missed.

With ``centred`` (as a fifth argument), one more line: the fitted statistics, but each image's
deviations from them with their mean over the places taken out (per feature), so a shift common to the
whole part cancels and only what differs from place to place is scored.

    python scripts/probes/position_context.py GOLDEN LABELLED MODEL [K,K,...] [centred] > out.txt
"""

import copy
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from labelled_set import load_probe_set
from sklearn.metrics import roc_auc_score

from inspect_svdd.evaluate.heatmaps import localisation
from inspect_svdd.model.local import LocalSVDD
from inspect_svdd.model.local_net import LocalNet, MapHead
from inspect_svdd.model.masked_defects import masked_defect
from inspect_svdd.model.train import embed

torch.set_num_threads(1)
golden_dir, labelled, model_dir = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
COPIES = [int(k) for k in (sys.argv[4] if len(sys.argv) > 4 else "0,1,3").split(",")]
data = load_probe_set(model_dir, golden_dir, labelled)
det, train, hold, test, masks = data.det, data.train, data.hold, data.test, data.masks
paths, groups, labels = data.paths, data.groups, data.labels
cfg = det.config
rows, cols = cfg.preprocess.input_shape


def place_statistics(net: torch.nn.Module, copies: int, floor: float = 0.01) -> None:
    """Refit ``net``'s per-place mean and inverse variance from golden cells and the unmasked cells of defect copies."""
    rng = np.random.default_rng(cfg.train.seed + 11)
    images, weights = [train], [np.ones((len(train), rows, cols), bool)]
    for _ in range(copies):
        made = [masked_defect(image, rng, train, cfg.local.local_defects) for image in train]
        images.append(np.stack([a for a, _ in made]))
        weights.append(~np.stack([m for _, m in made]))
    x, keep = np.concatenate(images), np.concatenate(weights)
    with torch.no_grad():
        f = torch.cat([net.cell_features(torch.from_numpy(x[i:i + 32])) for i in range(0, len(x), 32)]).double()
        w = 1.0 - F.adaptive_max_pool2d(torch.from_numpy(~keep).float()[:, None], f.shape[-2:]).double()
        count = w.sum(0, keepdim=True)
        mean = (f * w).sum(0, keepdim=True) / count
        var = ((f - mean) ** 2 * w).sum(0, keepdim=True) / (count - 1).clamp_min(1)
        net.position_mean.copy_(mean.float())
        net.position_weight.copy_((1.0 / (var + floor * float(var.mean()) + 1e-12)).float())


def report(name: str, model: LocalSVDD) -> None:
    """One line of evaluate's measures on the network grid."""
    stat = model.score(test)
    fail = stat > 0
    maps = torch.from_numpy(model.maps(test))
    per = " ".join(f"{g} {100 * roc_auc_score(labels[(groups == g) | ~labels], stat[(groups == g) | ~labels]):.1f}"
                   for g in sorted(set(groups) - {"good"}))
    up = F.interpolate(maps[:, None], size=(rows, cols), mode="bilinear", align_corners=False)[:, 0].numpy()
    loc = localisation(list(up), masks, list(groups))
    missed = [p.name for p, m, u in zip(paths, masks, up, strict=True)
              if m.any() and not localisation([u], [m])["hottest_region_hits"]]
    print(f"{name}: image AUROC {100 * roc_auc_score(labels, stat):.1f} ({per}); defects passing "
          f"{int((labels & ~fail).sum())} of {labels.sum()}; good rejected {int((~labels & fail).sum())} of "
          f"{(~labels).sum()}; pixel AUROC {100 * loc['pixel_auroc']:.1f}; hottest region on "
          f"{round(loc['hottest_region_hits'] * loc['defects'])} of {loc['defects']} (missed {missed})", flush=True)


print(f"# model {model_dir}: {len(train)} training, {len(hold)} held-out golden images; {len(paths)} test images")
report("model as fitted", det)
def refitted(probe: LocalSVDD) -> LocalSVDD:
    """``probe`` with its head's calibration and its radius set again, as fit sets them, for its changed network."""
    net = probe.encoder_
    probe.head_ = MapHead(net.grid, cfg.local.map_smoothing, cfg.local.map_calibration).fit(embed(net, train, 32))
    probe._set_radius(train, hold, 0.0)
    return probe


for k in COPIES:
    probe = copy.deepcopy(det)
    place_statistics(probe.encoder_, k)
    report(f"per-place statistics with {k} defect cop{'y' if k == 1 else 'ies'} per golden image", refitted(probe))


def centred_map(self: LocalNet, x: torch.Tensor) -> torch.Tensor:
    """Per-place deviations less their mean over the places, weighted and summed as the model does."""
    d = self.cell_features(x) - self.position_mean
    d = d - d.mean(dim=(2, 3), keepdim=True)
    return (d**2 * self.position_weight).sum(dim=1)


if sys.argv[5:6] == ["centred"]:
    probe = copy.deepcopy(det)
    probe.encoder_.distance_map = types.MethodType(centred_map, probe.encoder_)  # type: ignore[method-assign]
    report("fitted statistics, deviations centred over the places", refitted(probe))
