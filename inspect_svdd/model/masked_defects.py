"""Synthetic defects with their masks, for training the local model (DRAEM-style pseudo-anomalies).

The global model's defect families (:mod:`inspect_svdd.model.defects`) only
need an image; the local model learns *where* a part is wrong, so each defect
here comes with the boolean mask of the pixels it changed:

* a blob-shaped blend of another golden image (turned) or of a flat tone
  (Zavrtanik et al., ICCV 2021: the Perlin-shaped anomalies of DRAEM);
* a few small dark or bright discs (pits, blowholes, pinholes);
* a thin polyline, one or two pixels wide (hairline cracks, scratches);
* a wide, soft-edged region made darker or brighter (uneven surfaces, shading);
* with ``regions`` (a share, not one of the families): a large region, 8 % to 35 % of the
  input, of another golden image showing through (flipped or turned half a turn, so a
  texture's grain keeps its direction): another grain or brightness over a quarter of a tile.

All draws come from the ``rng`` given, so training is reproducible.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from inspect_svdd.config import LOCAL_DEFECTS
from inspect_svdd.model.defects import VISIBLE, _blob_mask

REGION_VISIBLE = 8.0  # grey levels: the mean change a large region must make over its blob


def _blend(image: np.ndarray, rng: np.random.Generator, donors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = image.shape[:2]
    mask = _blob_mask(rng, rows, cols, float(rng.uniform(0.005, 0.05))) > 0.5
    if rng.random() < 0.7 and donors.shape[1:] == image.shape:
        donor, turns = donors[rng.integers(len(donors))], int(rng.integers(1, 4))
        # a quarter turn would not fit a non-square part: half a turn there
        source = np.rot90(donor, turns if rows == cols else 2).astype(np.float32)
    else:
        source = np.full(image.shape, rng.uniform(0, 255), np.float32)
    beta = float(rng.uniform(0.1, 0.6))  # how much of the part shows through
    out = np.where(mask[:, :, None], beta * image + (1 - beta) * source, image)
    return out, mask


def _spots(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = image.shape[:2]
    mask = np.zeros((rows, cols), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        radius = max(1, int(rng.uniform(1.5, max(2.0, min(rows, cols) / 24))))
        centre = (int(rng.integers(0, cols)), int(rng.integers(0, rows)))
        cv2.circle(mask, centre, radius, 1, -1)
    delta = float(rng.choice([-1.0, 1.0]) * rng.uniform(40, 130))
    return image + delta * mask[:, :, None], mask.astype(bool)


def _line(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = image.shape[:2]
    layer = np.zeros((rows, cols), np.uint8)
    points = np.c_[rng.integers(0, cols, 5), rng.integers(0, rows, 5)][: int(rng.integers(2, 6))]
    for a, b in itertools.pairwise(points):
        cv2.line(layer, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1, int(rng.integers(1, 3)))
    delta = float(rng.choice([-1.0, 1.0], p=[0.75, 0.25]) * rng.uniform(40, 130))  # cracks are mostly dark
    return image + delta * layer[:, :, None], layer.astype(bool)


def _shade(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = image.shape[:2]
    alpha = _blob_mask(rng, rows, cols, float(rng.uniform(0.08, 0.35)))
    gain = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.5))
    return image * (1 + gain * alpha[:, :, None]), alpha > 0


def _region(image: np.ndarray, rng: np.random.Generator, donors: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """A large blob of another golden image at 70 % to 100 %, its mask the blob; None when 8 draws change too little."""
    base, (rows, cols) = image.astype(np.float32), image.shape[:2]
    for _attempt in range(8):
        alpha = _blob_mask(rng, rows, cols, float(rng.uniform(0.08, 0.35)))[:, :, None]
        donor = donors[int(rng.integers(len(donors)))]
        donor = (donor[:, ::-1] if rng.random() < 0.5 else donor[::-1, ::-1]).astype(np.float32)
        weight = alpha * float(rng.uniform(0.7, 1.0))
        out = np.clip(base * (1 - weight) + donor * weight + 0.5, 0, 255).astype(np.uint8)
        mask = alpha[:, :, 0] > 0.5
        if mask.any() and float(np.abs(out.astype(np.float32) - base)[mask].mean()) >= REGION_VISIBLE:
            return out, mask
    return None


def masked_defect(image: np.ndarray, rng: np.random.Generator, donors: np.ndarray,
                  kinds: tuple[str, ...] = LOCAL_DEFECTS[:3], regions: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic defect on a uint8 HxWxC ``image`` and the boolean HxW mask of the pixels it visibly changed.

    The family is drawn from ``kinds`` (``LocalConfig.local_defects``) with
    equal chance. ``donors`` (uint8 NxHxWxC golden images) lend texture to the blends. The
    mask keeps only pixels that changed by at least ``VISIBLE`` grey levels, so
    the network is never told that an unchanged pixel is defective; a draw
    that changes nothing visibly (a blend in the part's own tone) is drawn again.
    With probability ``regions`` the defect is a large region of another
    golden image instead (its whole blob is the mask, kept when it changes the
    region by :data:`REGION_VISIBLE` grey levels on average).
    """
    if regions > 0 and rng.random() < regions and donors.shape[1:] == image.shape:
        found = _region(image, rng, donors)
        if found is not None:
            return found
    base = image.astype(np.float32)
    for _attempt in range(8):
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "blend":
            out, mask = _blend(base, rng, donors)
        elif kind == "spots":
            out, mask = _spots(base, rng)
        elif kind == "shade":
            out, mask = _shade(base, rng)
        else:
            out, mask = _line(base, rng)
        result = np.clip(out + 0.5, 0, 255).astype(np.uint8)
        mask &= np.abs(result.astype(np.int16) - image.astype(np.int16)).max(axis=2) >= VISIBLE
        if mask.any():
            break
    return result, mask
