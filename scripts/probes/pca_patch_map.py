"""Issue 23 probe: a dense anomaly map with no back-propagation (AnomalyHop-like; PCA filters + one Gaussian).

Each image is standardised by its own mean and std. At each scale (the input, then average-pooled
by 2, 4, ...) the k x k patches of golden images give a PCA (the filters of a convolution) and one
Gaussian shared by every position (a texture has no place: magnetic tiles do not register); the
map at that scale is the patch's Mahalanobis distance (shrunk covariance), upsampled to the input
grid; the scales' maps, each divided by its golden median, are summed. The image score is the
largest cell of the map smoothed over `smooth` cells. Prints image AUROC (per type) and the pooled
pixel AUROC against the masks. Nothing here is trained by gradient; it takes minutes on one core.

    python scripts/probes/pca_patch_map.py DATASET_ROOT [SIZE] [PATCH] [SCALES] [SEED] > out.txt
"""

import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score

from inspect_svdd.evaluate.heatmaps import mask_for
from inspect_svdd.io.images import list_images

root = Path(sys.argv[1])
size = int(sys.argv[2]) if len(sys.argv) > 2 else 256
patch = int(sys.argv[3]) if len(sys.argv) > 3 else 7
scales = [int(s) for s in (sys.argv[4] if len(sys.argv) > 4 else "1,2,4").split(",")]
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
torch.set_num_threads(1)
rng = np.random.default_rng(seed)
start = time.time()


def load(path: Path, nearest: bool = False) -> np.ndarray:
    """A grayscale image (or mask) resized to the probe's square size."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


golden = np.stack([load(p) for p in list_images(root / "train" / "good")]).astype(np.float32) / 255
tests, groups, masks = [], [], []
for folder in sorted((root / "test").iterdir()):
    for path in list_images(folder):
        tests.append(load(path))
        groups.append(folder.name)
        found = mask_for(path, root / "test") if folder.name != "good" else None
        masks.append((load(found, nearest=True) > 127) if found is not None else np.zeros((size, size), bool))
test = np.stack(tests).astype(np.float32) / 255
labels = np.array([g != "good" for g in groups])
print(f"loaded {len(golden)} golden, {len(test)} test at {size} px in {time.time() - start:.0f} s", flush=True)


def standardise(images: np.ndarray) -> torch.Tensor:
    """Each image by its own mean and std (as the local model's default input): N x 1 x H x W."""
    x = torch.from_numpy(images)[:, None]
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.std(dim=(2, 3), keepdim=True).clamp_min(0.02)
    return (x - mean) / std


def scale_map(train: torch.Tensor, images: list[torch.Tensor], factor: int) -> list[torch.Tensor]:
    """Mahalanobis map of k x k patches at 1/factor of the input, fitted on ``train``; one per image set."""
    pooled = F.avg_pool2d(train, factor) if factor > 1 else train
    cols = F.unfold(pooled, patch)  # N x k*k x L
    n, d, length = cols.shape
    pick = rng.choice(n * length, size=min(200_000, n * length), replace=False)
    sample = cols.permute(0, 2, 1).reshape(-1, d)[torch.from_numpy(pick)].double().numpy()
    lw = LedoitWolf().fit(sample)
    precision = torch.from_numpy(lw.precision_).float()
    mean = torch.from_numpy(lw.location_).float()
    # Mahalanobis as a convolution: the precision's square root as k x k filters
    values, vectors = torch.linalg.eigh(precision)
    root_p = (vectors * values.clamp_min(0).sqrt()) .T  # d x d: ||root_p (x - mean)||^2 = (x-m)^T P (x-m)
    weight = root_p.reshape(d, 1, patch, patch)
    shift = (root_p @ mean).reshape(1, d, 1, 1)
    out = []
    for im in images:
        maps = []
        for i in range(0, len(im), 64):
            x = im[i : i + 64]
            x = F.avg_pool2d(x, factor) if factor > 1 else x
            r = F.conv2d(F.pad(x, [patch // 2] * 4, mode="reflect"), weight) - shift
            m = (r ** 2).sum(1, keepdim=True)
            maps.append(F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False))
        out.append(torch.cat(maps)[:, 0])
    return out


held = rng.permutation(len(golden))
fit_idx, val_idx = held[: int(0.8 * len(golden))], held[int(0.8 * len(golden)):]
train = standardise(golden[fit_idx])
val, tst = standardise(golden[val_idx]), standardise(test)
total_val = torch.zeros(len(val_idx), size, size)
total_test = torch.zeros(len(test), size, size)
for factor in scales:
    mv, mt = scale_map(train, [val, tst], factor)
    norm = float(mv.median())
    total_val += mv / norm
    total_test += mt / norm
    print(f"scale 1/{factor}: done at {time.time() - start:.0f} s", flush=True)
    for name, m in (("alone", mt / norm), ("sum so far", total_test)):
        for smooth in (1, 9, 17):
            sm = F.avg_pool2d(m[:, None], smooth, 1, smooth // 2, count_include_pad=False)[:, 0] if smooth > 1 else m
            s = sm.flatten(1).max(1).values.numpy()
            print(f"  {name} smooth {smooth}: image AUROC {100 * roc_auc_score(labels, s):.1f}")
heat = total_test.numpy()
for smooth in (1, 9, 17, 33):
    t = torch.from_numpy(heat)[:, None]
    sm = F.avg_pool2d(t, smooth, 1, smooth // 2, count_include_pad=False)[:, 0] if smooth > 1 else t[:, 0]
    s = sm.flatten(1).max(1).values.numpy()
    kinds = np.array(groups)
    line = " ".join(f"{g} {100 * roc_auc_score(labels[(kinds == g) | ~labels], s[(kinds == g) | ~labels]):.1f}"
                    for g in sorted(set(groups) - {"good"}))
    pix = roc_auc_score(np.concatenate([m[::4, ::4].ravel() for m in masks]),
                        np.concatenate([h[::4, ::4].ravel() for h in sm.numpy()]))
    print(f"final smooth {smooth}: image AUROC {100 * roc_auc_score(labels, s):.1f} ({line}); pixel AUROC {100 * pix:.1f}")
print(f"total {time.time() - start:.0f} s")
