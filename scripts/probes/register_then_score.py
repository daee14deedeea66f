"""Would registering each part to the golden mean before scoring separate shifted good parts from faint defects?

Each samples/incoming image is shifted (sub-pixel, OpenCV phase correlation on the grey image) onto
the mean of samples/golden, then scored by a saved model. Prints each image's statistic in units of
R^2, ascending, with and without registration, and the offset found. The model was trained on
unregistered golden images, so this is an upper-bound sketch of the idea, not a product path; a
`shifted` defect registers to the centre too, so its offset would need its own tolerance.

    python scripts/probes/register_then_score.py MODEL_DIR [GOLDEN_DIR]

GOLDEN_DIR (samples/golden): the golden images whose mean is the reference; pass the model's own
golden folder (e.g. a one-image folder) so the reference holds nothing the model did not see.
"""

import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from inspect_svdd.io.images import decode_image, list_images
from inspect_svdd.io.preprocess import preprocess
from inspect_svdd.model.artifact import load_model

torch.set_num_threads(1)
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
det, _ = load_model(sys.argv[1])
r2 = float(det.radius_) ** 2
golden = Path(sys.argv[2]) if len(sys.argv) > 2 else SAMPLES / "golden"
grey = [cv2.cvtColor(decode_image(p), cv2.COLOR_RGB2GRAY).astype(np.float32) for p in list_images(golden)]
reference = np.mean(grey, axis=0)
window = cv2.createHanningWindow(reference.shape[::-1], cv2.CV_32F)


def register(image: np.ndarray) -> tuple[np.ndarray, float]:
    """The image shifted onto the golden mean, and the length of the shift in pixels."""
    (dx, dy), _ = cv2.phaseCorrelate(reference.copy(), cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32),
                                     window)  # phaseCorrelate windows its inputs in place: a copy each time
    m = np.float32([[1, 0, -dx], [0, 1, -dy]])
    moved = cv2.warpAffine(image, m, image.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return moved, float(np.hypot(dx, dy))


paths = [p for group in sorted(d for d in (SAMPLES / "incoming").iterdir() if d.is_dir()) for p in list_images(group)]
images = [decode_image(path) for path in paths]
registered = [register(image) for image in images]
plain, aligned = (det.distances(np.stack([preprocess(x, det.config.preprocess) for x in batch])) / r2
                  for batch in (images, [moved for moved, _ in registered]))
rows = [(path.parent.name + "/" + path.stem, float(p), float(a), offset)
        for path, p, a, (_, offset) in zip(paths, plain, aligned, registered, strict=True)]
for label, column in (("unregistered", 1), ("registered", 2)):
    print(f"{label}: " + " ".join(f"{r[0]}:{r[column]:.2f}{'*' if r[column] > 1 else ''}"
                                  for r in sorted(rows, key=lambda r: r[column])))
print("offsets (px): " + " ".join(f"{r[0]}:{r[3]:.1f}" for r in sorted(rows, key=lambda r: r[3])))
