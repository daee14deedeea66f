"""Issue 23 probe: with the aspect ratio kept, should the image statistic ignore the mirrored margins?

A local model fitted with ``--aspect keep`` takes the largest cell of its whole map, margins
included (they mirror the part, and the seam where a tile meets its mirror image is a pattern no
tile has). This scores a labelled set through each model's ONNX file and ranks it (image AUROC,
overall and per defect type) by the largest cell of the whole map and by the largest cell whose
4x4-pixel area overlaps the image itself (``content_box``), so the two compare on the same maps.

    python scripts/probes/aspect_margins.py LABELLED MODEL [MODEL ...] > out.txt
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from inspect_svdd.deploy.runtime import OnnxScorer
from inspect_svdd.io.images import decode_image, list_images
from inspect_svdd.io.preprocess import content_box, load_image


def statistics(model: Path, paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """(largest cell of the whole map, largest cell over the image's own box) per file."""
    scorer = OnnxScorer(model / "model.onnx", device="cpu")
    cfg = scorer.preprocess
    whole, inside = [], []
    for path in paths:
        m = scorer.maps(load_image(path, cfg)[None])[0]
        y, x, h, w = content_box(decode_image(path).shape[:2], cfg)
        cell = cfg.input_shape[0] // m.shape[0]
        box = m[y // cell : -(-(y + h) // cell), x // cell : -(-(x + w) // cell)]
        whole.append(m.max())
        inside.append(box.max())
    return np.array(whole), np.array(inside)


def main() -> None:
    """Print one line per model and statistic."""
    labelled, models = Path(sys.argv[1]), [Path(m) for m in sys.argv[2:]]
    paths = [p for folder in sorted(labelled.iterdir()) for p in list_images(folder)]
    groups = np.array([p.parent.name for p in paths])
    good = groups == "good"
    for model in models:
        for name, stat in zip(("whole map", "image's box"), statistics(model, paths), strict=True):
            per = " ".join(f"{t} {100 * roc_auc_score(groups[good | (groups == t)] == t, stat[good | (groups == t)]):.1f}"
                           for t in sorted(set(groups) - {"good"}))
            print(f"{model}: {name}: image AUROC {100 * roc_auc_score(~good, stat):.1f} ({per})", flush=True)


if __name__ == "__main__":
    main()
