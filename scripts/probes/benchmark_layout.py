"""The layout fact `fit --model-kind auto` decides on, for the benchmark sets' classes.

Median phase-correlation peak of 300 training images of a class, each against the mean of the
others, at the default 128 px (upsampled bilinearly). Below
`inspect_svdd.io.align.AUTO_PEAK` the default fit would take the local model.

    python scripts/probes/benchmark_layout.py > recipes/results/local/benchmark-layout.txt
"""

from pathlib import Path

import cv2
import numpy as np

from inspect_svdd.bench.data import load_torchvision
from inspect_svdd.io.align import AUTO_PEAK, golden_peak

ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

print(f"# python scripts/probes/benchmark_layout.py (300 training images per class, 128 px; texture below {AUTO_PEAK})")
for name, classes in (("mnist", (0, 3)), ("fashion-mnist", (0, 3, 7)), ("cifar10", (0, 3))):
    data = load_torchvision(name, ROOT)
    for normal in classes:
        images = data.train[data.train_labels == normal][:300]
        big = np.stack([cv2.resize(image, (128, 128), interpolation=cv2.INTER_LINEAR) for image in images])
        big = big.reshape(len(images), 128, 128, -1)
        peak = golden_peak(big)
        print(f"{name} class {normal} ({data.class_names[normal]}): median peak {peak:.3f} -> "
              f"{'local' if peak < AUTO_PEAK else 'global'}")
