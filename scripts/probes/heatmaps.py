"""Probe: how well heat-map variants localise the samples' defects (hottest-region hits, pixel AUROC).

python scripts/probes/heatmaps.py MODEL_DIR [LABELLED] > recipes/results/probes/heatmaps-samples.txt
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from inspect_svdd.deploy.torch_backend import TorchBackend
from inspect_svdd.evaluate.gradcam import gradcam
from inspect_svdd.evaluate.heatmaps import Occlusion, localisation, mask_for, to_image
from inspect_svdd.io.images import decode_image, list_images
from inspect_svdd.io.preprocess import load_image, preprocess

model, labelled = Path(sys.argv[1]), Path(sys.argv[2] if len(sys.argv) > 2 else "samples/incoming")
golden = Path(sys.argv[3] if len(sys.argv) > 3 else "samples/golden")
backend = TorchBackend.load(model)
cfg = backend.preprocess
files = list_images(labelled)
golden_inputs = np.stack([load_image(p, cfg) for p in list_images(golden)[:200]])
median = np.median(golden_inputs, axis=0).astype(np.uint8)
mean = golden_inputs.mean(axis=0).round().astype(np.uint8)
variants = {
    "occlusion blur p16 s8": lambda x: Occlusion().heat(backend, x),
    "occlusion median p16 s8": lambda x: Occlusion().heat(backend, x, median),
    "occlusion mean p16 s8": lambda x: Occlusion().heat(backend, x, mean),
    "occlusion median p32 s16": lambda x: Occlusion(0.25, 0.125).heat(backend, x, median),
    "occlusion median p8 s4": lambda x: Occlusion(0.0625, 0.03125).heat(backend, x, median),
    "gradcam": lambda x: gradcam(backend.det, x[None])[0],
}
for name, fn in variants.items():
    start = time.perf_counter()
    heats, masks = [], []
    for path in files:
        image = decode_image(path)
        heat = to_image(fn(preprocess(image, cfg)), image.shape[:2], cfg)
        mask_path = mask_for(path, labelled)
        masks.append(decode_image(mask_path)[..., 0] > 127 if mask_path else np.zeros(heat.shape, bool))
        heats.append(heat)
    result = localisation(heats, masks)
    good_peak = np.median([h.max() for h, m in zip(heats, masks, strict=True) if not m.any()])
    bad_peak = np.median([h.max() for h, m in zip(heats, masks, strict=True) if m.any()])
    print(f"{name:28s} hits {result['hottest_region_hits']:.3f}  area {result['hottest_region_area']:.3f}  "
          f"pixel AUROC {result['pixel_auroc']:.3f}  median peak good {good_peak:.2f} defect {bad_peak:.2f} R^2  "
          f"{(time.perf_counter() - start) / len(files):.2f} s/image", flush=True)
