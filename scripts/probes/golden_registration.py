"""How well each golden folder registers: what `fit --align auto` decides on, and why.

For each folder, at the default 128 px input (gray for the real sets, colour for the samples),
prints the facts `fit` records under `alignment` (median phase-correlation peak and offsets, each
golden image against the mean of the others) and the limits it would use when forced on.

    python scripts/probes/golden_registration.py > recipes/results/align/golden-registration.txt
"""

from pathlib import Path

import numpy as np

from inspect_svdd.config import PreprocessConfig
from inspect_svdd.io.align import fit_aligner
from inspect_svdd.io.images import list_images
from inspect_svdd.io.preprocess import load_image

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = [("samples", ROOT / "samples" / "golden", 3),
           ("casting", ROOT.parent / "shared" / "datasets" / "casting" / "train" / "good", 1),
           ("magnetic_tile", ROOT.parent / "shared" / "datasets" / "magnetic_tile" / "train" / "good", 1)]

print("# python scripts/probes/golden_registration.py (all golden images of each folder, 128 px)")
for name, folder, channels in FOLDERS:
    cfg = PreprocessConfig(channels=channels)
    images = np.stack([load_image(path, cfg) for path in list_images(folder)])
    _, facts = fit_aligner(images, "auto")
    _, forced = fit_aligner(images, "on")
    print(f"{name}: {len(images)} golden images; auto: {facts}")
    print(f"  limits when forced on: {forced['limit']} px, exposure |log gain| {forced['gain_limit']}")
