"""Issue 23 probe: a texture's local map plus a Gaussian on each cell's brightness and contrast, no retraining.

    python scripts/probes/texture_appearance.py MODEL_DIR DATASET_ROOT WINDOW 0,0.5,1 > out.txt

MODEL_DIR: a local model whose map is to the centre c (a texture, e.g. the magnetic tiles' default
fit); DATASET_ROOT in the MVTec AD layout with ground_truth masks. The uneven surfaces are regions
brighter, darker or of another grain than the rest of the tile, which per-place statistics cannot
see on a texture; so each cell gets its mean and standard deviation of the standardised input over
WINDOW x WINDOW cells around it, scored by one Gaussian pooled over all golden training cells and
places (each feature's squared deviation over its variance), scaled so that its golden mean equals
the map's, times lambda, and added to the map before the head (refitted on the training images).
Printed per lambda: image AUROC of the heat's peak and pixel AUROC, pooled and per defect type (heat
maps on each image's own grid as evaluate draws them, every 2nd pixel); for lambda 0 also each
type's mean within-image pixel AUROC (how well the map ranks a defect's pixels inside its own image).
"""

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from inspect_svdd.deploy.torch_backend import TorchBackend
from inspect_svdd.evaluate.heatmaps import HeatMapper, mask_for
from inspect_svdd.io.datasets import load_folder
from inspect_svdd.io.images import decode_image, list_images
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.local_net import LocalNet
from inspect_svdd.model.train import embed

torch.set_num_threads(1)
det, _ = load_model(sys.argv[1])
cfg, net = det.config, det.encoder_
root, window = Path(sys.argv[2]), int(sys.argv[3])
golden = load_folder(root / "train" / "good", cfg.preprocess, str(cfg.preprocess.channels)).images
train = det._split(golden)[0]
plain = LocalNet.distance_map


def appearance(self: LocalNet, x: torch.Tensor) -> torch.Tensor:
    """Each cell's neighbourhood mean and standard deviation of the standardised input: N x 2C x rows x columns."""
    z = self.adapter(x)
    mean, square = F.avg_pool2d(z, 4), F.avg_pool2d(z * z, 4)
    if window > 1:
        mean = F.avg_pool2d(mean, window, 1, window // 2, count_include_pad=False)
        square = F.avg_pool2d(square, window, 1, window // 2, count_include_pad=False)
    return torch.cat([mean, (square - mean * mean).clamp_min(0).sqrt()], 1)


def batched(fn: object) -> torch.Tensor:
    """``fn(net, batch)`` over the training images, 32 at a time, concatenated."""
    return torch.cat([fn(net, torch.from_numpy(train[i : i + 32])) for i in range(0, len(train), 32)])  # type: ignore[operator]


with torch.no_grad():
    feats = batched(appearance)
    mu, var = feats.mean(dim=(0, 2, 3), keepdim=True), feats.var(dim=(0, 2, 3), keepdim=True)
    ratio = float(batched(plain).mean() / ((feats - mu) ** 2 / var).sum(1).mean())  # the two terms' golden means alike
lam = [0.0]


def distance_map(self: LocalNet, x: torch.Tensor) -> torch.Tensor:
    """The model's map plus lambda times the scaled appearance Gaussian."""
    return plain(self, x) + lam[0] * ratio * ((appearance(self, x) - mu) ** 2 / var).sum(1)


LocalNet.distance_map = distance_map  # type: ignore[method-assign]
items = [(src, group.name) for group in sorted((root / "test").iterdir()) for src in list_images(group)]
kinds = [kind for _, kind in items]
types = sorted(set(kinds) - {"good"})
labels = np.array([kind != "good" for kind in kinds])
found = [mask_for(src, root / "test") if kind != "good" else None for src, kind in items]


def auroc(keep: list[int], truth: list[np.ndarray], values: list[np.ndarray]) -> float:
    """Pixel AUROC in percent over the images ``keep``."""
    truths, scores = np.concatenate([truth[i].ravel() for i in keep]), np.concatenate([values[i].ravel() for i in keep])
    return 100 * roc_auc_score(truths, scores)


for value in [float(v) for v in sys.argv[4].split(",")]:
    lam[0] = value
    det.head_.fit(embed(net, train, 32))
    mapper = HeatMapper(TorchBackend(det), "map")
    heats = [mapper.of_file(src)[1] for src, _ in items]
    peaks = np.array([float(h.max()) for h in heats])
    heats = [h[::2, ::2].astype(np.float32) for h in heats]
    masks = [np.zeros(h.shape, bool) if f is None else (decode_image(f)[:, :, 0] > 127)[::2, ::2]
             for f, h in zip(found, heats, strict=True)]
    if value == 0:
        inside = {t: [i for i, k in enumerate(kinds) if k == t and 0 < masks[i].sum() < masks[i].size] for t in types}
        within = {t: np.mean([auroc([i], masks, heats) for i in keep]) for t, keep in inside.items()}
        print("the map alone, within-image pixel AUROC: " + ", ".join(f"{t} {v:.1f}" for t, v in within.items()))
    of_type = {t: [i for i, k in enumerate(kinds) if k in (t, "good")] for t in types}
    image = ", ".join(f"{t} {100 * roc_auc_score(labels[keep], peaks[keep]):.1f}" for t, keep in of_type.items())
    pixel = ", ".join(f"{t} {auroc(keep, masks, heats):.1f}" for t, keep in of_type.items())
    print(f"window {window} lambda {value:g}: image {100 * roc_auc_score(labels, peaks):.1f} ({image}); "
          f"pixel {auroc(list(range(len(items))), masks, heats):.1f} ({pixel})", flush=True)
