"""Issue 23 probe: could fit choose how much to blur the map for the heat map, from the golden images alone?

    python scripts/probes/heat_sigma_choice.py DATASET_ROOT MODEL_DIR ... > out.txt

For each fitted local model: its own held-out golden images (fit's split) and the synthetic defects
fit judges on (``unseen_defects``: families the local model never trains on), each defect's mask
the pixels it changed by at least ``VISIBLE`` grey levels. The map of each, blurred by a Gaussian of
``sigma`` cells (as ``scripts/probes/map_blur.py`` does on the test set), brought onto the input's
grid: the pixel AUROC pooled over the held-out golden and defective images, per family too. The
sigma a choice on these would take is printed beside the test set's figures of the same sigmas
(from map_blur.py's output, for comparison only).
"""

import sys
from pathlib import Path

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score

from inspect_svdd.io.datasets import load_folder
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.defects import VISIBLE
from inspect_svdd.model.local import unseen_defects

SIGMAS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)


def heat(m: np.ndarray, sigma: float, shape: tuple[int, int]) -> np.ndarray:
    """The cell map blurred by ``sigma`` cells and resized to the input's rows x columns."""
    b = m if sigma <= 0 else cv2.GaussianBlur(m, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(b, shape[::-1], interpolation=cv2.INTER_LINEAR)


def main() -> None:
    """One line per model and sigma."""
    root = Path(sys.argv[1])
    for directory in sys.argv[2:]:
        det, _ = load_model(directory)
        cfg = det.config
        golden = load_folder(root / "train" / "good", cfg.preprocess, str(cfg.preprocess.channels)).images
        hold = det._split(golden)[1]
        bad, families = unseen_defects(cfg, hold)
        origin = hold[np.arange(len(bad)) % len(hold)]
        masks = np.abs(bad.astype(np.int16) - origin.astype(np.int16)).max(axis=3) >= VISIBLE
        maps = det.maps(np.concatenate([hold, bad])).astype(np.float32)
        truth = np.concatenate([np.zeros((len(hold), *masks.shape[1:]), bool), masks])
        kinds = np.array(["good"] * len(hold) + families)
        shape = hold.shape[1:3]
        for sigma in SIGMAS:
            heats = np.stack([heat(m, sigma, shape) for m in maps])
            per = []
            for family in sorted(set(families)):
                keep = (kinds == "good") | (kinds == family)
                per.append(f"{family} {100 * roc_auc_score(truth[keep].ravel(), heats[keep].ravel()):.1f}")
            print(f"{directory}: sigma {sigma:g} cells: held-out pixel AUROC "
                  f"{100 * roc_auc_score(truth.ravel(), heats.ravel()):.1f} ({' '.join(per)}); "
                  f"{len(hold)} golden, {len(bad)} defects, {masks.mean():.1%} of their pixels changed", flush=True)


if __name__ == "__main__":
    main()
