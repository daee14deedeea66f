"""Issue 23 probe: does blurring the local model's map before it becomes the heat map localise better?

The pixel AUROC of the magnetic tiles is held down by the uneven surfaces, whose masks cover about
a quarter of their image while the map lights up mostly where the uneven band meets the rest.
This scores a labelled set through each model's ONNX file once, then for each Gaussian sigma (in
map cells; 0 is the map as the model gives it) blurs the map, mixes it with the map (``MIXES``: the
blur alone, the mean of the two, the larger of the two), brings it onto the image's grid as
``evaluate`` does (``to_image``) and measures the pixel AUROC pooled over all images and per defect
type (each type with the good images), and the image AUROC of the mixed map's largest cell.
Pixels are taken every 4th row and column (the figures are for comparing sigmas, not for the README's
tables, which come from ``evaluate``).

    python scripts/probes/map_blur.py LABELLED_ROOT MODEL [MODEL ...] > out.txt

LABELLED_ROOT holds ``test/`` and ``ground_truth/`` (MVTec layout).
"""

import sys
from pathlib import Path

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score

from inspect_svdd.deploy.runtime import OnnxScorer
from inspect_svdd.evaluate.heatmaps import mask_for, to_image
from inspect_svdd.io.images import decode_image, list_images
from inspect_svdd.io.preprocess import load_image

SIGMAS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)
MIXES = ("blur", "mean", "max")  # the blurred map alone, its mean with the map, or the larger of the two
STEP = 4  # every 4th pixel along each side


def blurred(m: np.ndarray, sigma: float, mix: str = "blur") -> np.ndarray:
    """The map blurred with a Gaussian of ``sigma`` cells (reflected at the border), mixed with the map by ``mix``."""
    b = m if sigma <= 0 else cv2.GaussianBlur(m, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return {"blur": b, "mean": (m + b) / 2, "max": np.maximum(m, b)}[mix]


def test_set(root: Path) -> tuple[list[Path], np.ndarray, list[tuple[int, int]], list[np.ndarray]]:
    """The labelled images under ``root/test``: paths, defect types, each image's shape and its mask (every STEP-th pixel)."""
    paths = [p for folder in sorted((root / "test").iterdir()) for p in list_images(folder)]
    masks, shapes = [], []
    for path in paths:
        shape = decode_image(path).shape[:2]
        shapes.append(shape)
        found = mask_for(path, root / "test")
        mask = np.zeros(shape, bool) if found is None else cv2.imread(str(found), cv2.IMREAD_GRAYSCALE) > 127
        masks.append(mask[::STEP, ::STEP])
    return paths, np.array([p.parent.name for p in paths]), shapes, masks


def main() -> None:
    """Print one line per model and sigma."""
    root, models = Path(sys.argv[1]), [Path(m) for m in sys.argv[2:]]
    paths, kinds, shapes, masks = test_set(root)
    good = kinds == "good"
    for model in models:
        scorer = OnnxScorer(model / "model.onnx", device="cpu")
        cfg = scorer.preprocess
        maps = [scorer.maps(load_image(p, cfg)[None])[0].astype(np.float32) for p in paths]
        for mix, sigma in [(x, s) for x in MIXES for s in SIGMAS if s > 0 or x == "blur"]:
            heats, stats = [], []
            for m, shape in zip(maps, shapes, strict=True):
                b = blurred(m, sigma, mix)
                stats.append(float(b.max()))
                full = to_image(cv2.resize(b, cfg.input_shape[::-1], interpolation=cv2.INTER_LINEAR),
                                shape, cfg)
                heats.append(full[::STEP, ::STEP])
            stat = np.array(stats)
            pooled = roc_auc_score(np.concatenate([k.ravel() for k in masks]), np.concatenate([h.ravel() for h in heats]))
            per = []
            for t in sorted(set(kinds) - {"good"}):
                keep = [i for i in range(len(paths)) if kinds[i] in (t, "good")]
                auc = roc_auc_score(np.concatenate([masks[i].ravel() for i in keep]),
                                    np.concatenate([heats[i].ravel() for i in keep]))
                per.append(f"{t} {100 * auc:.1f}")
            print(f"{model}: {mix} sigma {sigma:g} cells: pixel AUROC {100 * pooled:.1f} ({' '.join(per)}); "
                  f"image AUROC of the largest cell {100 * roc_auc_score(~good, stat):.1f}", flush=True)


if __name__ == "__main__":
    main()
