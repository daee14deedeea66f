"""What the map probes share: a saved model, its golden split, a labelled set with masks on the network grid, a map's figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from inspect_svdd.evaluate.heatmaps import localisation, mask_for
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

    @property
    def types(self) -> list[str]:
        """The defect types (folder names other than ``good``)."""
        return sorted(set(self.groups) - {"good"})

    @property
    def has_masks(self) -> bool:
        """Whether any test image has a ground-truth mask."""
        return any(m.any() for m in self.masks)


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


def smooth(m: torch.Tensor) -> torch.Tensor:
    """The local model's 3 x 3-cell box filter over N x rows x columns maps."""
    return F.avg_pool2d(m[:, None], 3, 1, 1, count_include_pad=False)[:, 0]


def nearest_cells(f: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Each cell's squared distance to its nearest bank cell: N x dim x rows x columns -> N x rows x columns."""
    flat = f.permute(0, 2, 3, 1).reshape(-1, f.shape[1])
    d = torch.cat([torch.cdist(flat[i : i + 8192], bank).amin(1) ** 2 for i in range(0, len(flat), 8192)])
    return d.reshape(len(f), *f.shape[2:])


def figures_header(data: ProbeSet, first: list[str], beside: tuple[str, ...] = ()) -> str:
    """The header and rule lines of a table of :func:`figures` rows after the ``first`` columns.

    ``beside``: columns the probe inserts after the image AUROC.
    """
    columns = [*first, "image AUROC", *beside, *data.types]
    columns += ["pixel AUROC", "hottest region on the defect"] if data.has_masks else []
    return "| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|"


def figures(data: ProbeSet, stat: np.ndarray, maps: torch.Tensor) -> list[str]:
    """Image AUROC of ``stat`` (overall, per defect type) and, with masks, the pixel AUROC and hottest-region hits of ``maps``.

    ``maps`` (N x rows x columns of any grid) are upsampled to the network input, where the masks are.
    """
    row = [f"{100 * roc_auc_score(data.labels, stat):.1f}"]
    for t in data.types:
        keep = (data.groups == t) | (data.groups == "good")
        row.append(f"{100 * roc_auc_score(data.labels[keep], stat[keep]):.1f}")
    if data.has_masks:
        rows, cols = data.masks[0].shape
        heats = list(F.interpolate(maps[:, None], size=(rows, cols), mode="bilinear", align_corners=False)[:, 0].numpy())
        loc = localisation(heats, data.masks)
        row += [f"{100 * loc['pixel_auroc']:.1f}", f"{100 * loc['hottest_region_hits']:.1f} %"]
    return row
