"""What the map probes share: a saved model, its own golden split, and a labelled set with masks on the network grid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspect_svdd.evaluate.heatmaps import mask_for
from inspect_svdd.io.images import list_images
from inspect_svdd.io.preprocess import load_image
from inspect_svdd.model.artifact import load_model


@dataclass
class ProbeSet:
    """A model and the images a probe scores: ``train``/``hold`` (the fit's split) and ``test`` are network inputs."""

    det: Any
    train: np.ndarray
    hold: np.ndarray
    paths: list[Path]
    groups: np.ndarray  # each test image's folder name
    labels: np.ndarray  # True: defective
    test: np.ndarray
    masks: list[np.ndarray]  # boolean, on the network input's grid (empty for good parts and missing masks)


def load_probe_set(model_dir: str, golden_dir: Path, labelled: Path) -> ProbeSet:
    """Load ``model_dir``, split ``golden_dir`` as its fit did, and read ``labelled`` (MVTec layout) with its masks."""
    det, _ = load_model(model_dir)
    cfg = det.config
    rows, cols = cfg.preprocess.input_shape
    golden = np.stack([load_image(p, cfg.preprocess) for p in list_images(golden_dir)])
    train, hold = det._split(det._inputs(golden))
    paths = [p for folder in sorted(labelled.iterdir()) if folder.is_dir() for p in list_images(folder)]
    groups = np.array([p.parent.name for p in paths])
    test = det._inputs(np.stack([load_image(p, cfg.preprocess) for p in paths]))
    masks = []
    for p, g in zip(paths, groups, strict=True):
        found = mask_for(p, labelled) if g != "good" else None
        m = cv2.imread(str(found), cv2.IMREAD_GRAYSCALE) if found is not None else None
        masks.append(cv2.resize(m, (cols, rows), interpolation=cv2.INTER_NEAREST) > 127 if m is not None
                     else np.zeros((rows, cols), bool))
    return ProbeSet(det, train, hold, paths, groups, groups != "good", test, masks)
