"""Issue 23 probe: the mean of two local models' maps (fit trains both when --local-regions is unset).

    python scripts/probes/map_ensemble.py LABELLED_ROOT MODEL_A MODEL_B > out.txt

Each map is divided by its own model's R**2 (so 1 is each one's radius), then the two are averaged.
Printed for A, B and their mean: the test set's image AUROC of the map's largest cell and the pixel
AUROC pooled and per type (every 4th pixel, as ``map_blur.py``), and the image AUROC on each
model's held-out golden images against the unseen synthetic families fit judges on (A's split and
seed: the two models must share them).
"""

import sys
from pathlib import Path

import cv2
import numpy as np
from map_blur import STEP, test_set
from sklearn.metrics import roc_auc_score

from inspect_svdd.deploy.runtime import OnnxScorer
from inspect_svdd.evaluate.heatmaps import to_image
from inspect_svdd.io.datasets import load_folder
from inspect_svdd.io.preprocess import load_image
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.local import unseen_defects


def line(label: str, maps: list[np.ndarray], shapes: list, masks: list, kinds: np.ndarray, cfg, synthetic: float) -> str:
    """Figures of one set of maps."""
    stats = np.array([m.max() for m in maps])
    heats = [to_image(cv2.resize(m, cfg.input_shape[::-1], interpolation=cv2.INTER_LINEAR), s, cfg)[::STEP, ::STEP]
             for m, s in zip(maps, shapes, strict=True)]
    pooled = roc_auc_score(np.concatenate([k.ravel() for k in masks]), np.concatenate([h.ravel() for h in heats]))
    per = []
    for t in sorted(set(kinds) - {"good"}):
        keep = [i for i in range(len(maps)) if kinds[i] in (t, "good")]
        auc = roc_auc_score(np.concatenate([masks[i].ravel() for i in keep]), np.concatenate([heats[i].ravel() for i in keep]))
        per.append(f"{t} {100 * auc:.1f}")
    return (f"{label}: image AUROC {100 * roc_auc_score(kinds != 'good', stats):.1f}; pixel AUROC {100 * pooled:.1f} "
            f"({' '.join(per)}); held-out unseen synthetic AUROC {synthetic:.1f}")


def main() -> None:
    """Three lines: A, B, their mean."""
    root, models = Path(sys.argv[1]), [Path(m) for m in sys.argv[2:4]]
    paths, kinds, shapes, masks = test_set(root)
    dets = [load_model(m)[0] for m in models]
    cfg = dets[0].config
    golden = load_folder(root / "train" / "good", cfg.preprocess, str(cfg.preprocess.channels)).images
    hold = dets[0]._split(golden)[1]
    bad, _ = unseen_defects(cfg, hold)
    truth = np.r_[np.zeros(len(hold)), np.ones(len(bad))]
    tests, held = [], []
    for model, det in zip(models, dets, strict=True):
        scorer = OnnxScorer(model / "model.onnx", device="cpu")
        r2 = scorer.radius**2
        tests.append([scorer.maps(load_image(p, scorer.preprocess)[None])[0].astype(np.float32) / r2 for p in paths])
        held.append(det.maps(np.concatenate([hold, bad])).astype(np.float32) / r2)
    mean_test = [(a + b) / 2 for a, b in zip(*tests, strict=True)]
    for label, maps, h in ((str(models[0]), tests[0], held[0]), (str(models[1]), tests[1], held[1]),
                           ("mean of the two", mean_test, (held[0] + held[1]) / 2)):
        synthetic = 100 * roc_auc_score(truth, h.reshape(len(h), -1).max(axis=1))
        print(line(label, maps, shapes, masks, kinds, cfg.preprocess, synthetic), flush=True)


if __name__ == "__main__":
    main()
