"""Probe: how much reduced JPEG decoding moves a model's scores on a labelled folder (same weights, both decodes).

Usage: ``python scripts/probes/decode_change.py MODEL_DIR LABELLED_FOLDER``
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from inspect_svdd.cli.evaluate import labelled_root
from inspect_svdd.deploy.scoring import score_files
from inspect_svdd.deploy.torch_backend import TorchBackend
from inspect_svdd.io.images import jpeg_reduction, list_images, read_file

model, folder = Path(sys.argv[1]), Path(sys.argv[2])
root = labelled_root(folder)
paths = list_images(root)
labels = np.array([p.relative_to(root).parts[0] != "good" for p in paths])
backend = TorchBackend.load(model)
out = {}
for mode in ("full", "reduced"):
    backend.preprocess = dataclasses.replace(backend.preprocess, decode=mode)
    rows: list[float] = []
    score_files(paths, backend, lambda r, kept=rows: kept.append(r.distance if r.distance is not None else np.nan))
    out[mode] = np.array(rows)
r2 = backend.radius**2
reduced = sum(jpeg_reduction(read_file(p), backend.preprocess.input_size) > 1 for p in paths)
change = np.abs(out["reduced"] - out["full"]) / r2
flips = int(np.sum((out["reduced"] > r2) != (out["full"] > r2)))
print(f"{folder}: {len(paths)} images, {reduced} decoded reduced; AUROC full {roc_auc_score(labels, out['full']):.4f}, "
      f"reduced {roc_auc_score(labels, out['reduced']):.4f}; |change| / R^2 median {np.median(change):.4f}, "
      f"95th percentile {np.quantile(change, 0.95):.4f}, max {change.max():.4f}; verdicts changed {flips} of {len(paths)}")
