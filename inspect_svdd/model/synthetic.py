"""Synthetic defects made from the golden images themselves (CutPaste, scar; more families in ``defects``).

Li et al. (CVPR 2021, "CutPaste"): cut a patch of a good image and paste it
somewhere else, so local structure breaks while global statistics barely move;
the *scar* variant is a thin, rotated strip. During ``fit`` these images play
the anomalies of Deep SAD (Ruff et al., ICLR 2020): good images are pulled to
the centre, synthetic defects pushed away. Both are albumentations transforms
(seeded by their ``Compose``), so ``augment --augment cutpaste-scar`` previews
exactly what training sees.
"""

from __future__ import annotations

import math
import os
from typing import Any

import cv2
import numpy as np

from inspect_svdd.config import DEFECT_PRESETS

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network check at import
import albumentations as A

__all__ = ["DEFECT_PRESETS", "CutPaste", "Scar", "defect_preset"]


def _jitter(patch: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Brightness/contrast change of a pasted patch, so it differs in tone as well as place."""
    gain = 1 + rng.uniform(-strength, strength)
    bias = 255 * rng.uniform(-strength, strength) / 2
    return np.clip(patch.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)


class CutPaste(A.ImageOnlyTransform):
    """Paste a jittered rectangle cut from the same image at another place.

    Args:
        area: patch area as a fraction of the image (min, max).
        aspect: aspect ratio range, drawn log-uniformly.
        jitter: brightness/contrast change of the patch (0 keeps its tone).
    """

    def __init__(self, area: tuple[float, float] = (0.02, 0.15), aspect: tuple[float, float] = (0.3, 3.3),
                 jitter: float = 0.1, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.area, self.aspect, self.jitter = tuple(area), tuple(aspect), jitter

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Arguments that ``albumentations.save`` records."""
        return ("area", "aspect", "jitter")

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Draw the patch size, its source and destination."""
        rows, cols = params["shape"][:2]
        rng = self.random_generator
        area = rng.uniform(*self.area) * rows * cols
        ratio = math.exp(rng.uniform(math.log(self.aspect[0]), math.log(self.aspect[1])))
        h = int(np.clip(round(math.sqrt(area / ratio)), 2, rows - 1))
        w = int(np.clip(round(math.sqrt(area * ratio)), 2, cols - 1))
        src = (int(rng.integers(0, rows - h + 1)), int(rng.integers(0, cols - w + 1)))
        dst = (int(rng.integers(0, rows - h + 1)), int(rng.integers(0, cols - w + 1)))
        return {"box": (h, w), "src": src, "dst": dst, "seed": int(rng.integers(2**31))}

    def apply(self, img: np.ndarray, box: tuple[int, int], src: tuple[int, int], dst: tuple[int, int], seed: int,
              **_: Any) -> np.ndarray:
        """Cut, jitter and paste."""
        (h, w), (sy, sx), (dy, dx) = box, src, dst
        out = img.copy()
        out[dy : dy + h, dx : dx + w] = _jitter(img[sy : sy + h, sx : sx + w], np.random.default_rng(seed), self.jitter)
        return out


class Scar(A.ImageOnlyTransform):
    """Paste a thin, rotated strip cut from the same image (CutPaste's *scar*): a crack-like defect.

    Args:
        width: strip width as a fraction of the image side (min, max).
        length: strip length as a fraction of the image side (min, max).
        angle: rotation range in degrees.
        jitter: brightness/contrast change of the strip.
    """

    def __init__(self, width: tuple[float, float] = (0.015, 0.06), length: tuple[float, float] = (0.08, 0.25),
                 angle: tuple[float, float] = (-45.0, 45.0), jitter: float = 0.1, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.width, self.length, self.angle, self.jitter = tuple(width), tuple(length), tuple(angle), jitter

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Arguments that ``albumentations.save`` records."""
        return ("width", "length", "angle", "jitter")

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Draw the strip size, angle, source and destination."""
        rows, cols = params["shape"][:2]
        side = min(rows, cols)
        rng = self.random_generator
        w = max(2, round(rng.uniform(*self.width) * side))
        h = min(max(4, round(rng.uniform(*self.length) * side)), side - 2)
        src = (int(rng.integers(0, rows - h + 1)), int(rng.integers(0, cols - w + 1)))
        reach = h  # a rotated strip fits in an h x h square
        dst = (int(rng.integers(0, rows - reach + 1)), int(rng.integers(0, cols - reach + 1)))
        return {"box": (h, w), "src": src, "dst": dst, "theta": float(rng.uniform(*self.angle)),
                "seed": int(rng.integers(2**31))}

    def apply(self, img: np.ndarray, box: tuple[int, int], src: tuple[int, int], dst: tuple[int, int], theta: float,
              seed: int, **_: Any) -> np.ndarray:
        """Cut the strip, rotate it about its centre inside an h x h square and paste where its mask is set."""
        (h, w), (sy, sx), (dy, dx) = box, src, dst
        strip = _jitter(img[sy : sy + h, sx : sx + w], np.random.default_rng(seed), self.jitter)
        canvas = np.zeros((h, h, img.shape[2]), np.uint8)
        mask = np.zeros((h, h), np.uint8)
        off = (h - w) // 2
        canvas[:, off : off + w] = strip
        mask[:, off : off + w] = 255
        turn = cv2.getRotationMatrix2D(((h - 1) / 2, (h - 1) / 2), theta, 1.0)
        turned = cv2.warpAffine(canvas, turn, (h, h), flags=cv2.INTER_LINEAR).reshape(h, h, img.shape[2])
        inside = cv2.warpAffine(mask, turn, (h, h), flags=cv2.INTER_NEAREST) > 127
        out = img.copy()
        region = out[dy : dy + h, dx : dx + h]
        region[inside] = turned[inside]
        return out


def defect_families() -> dict[str, Any]:
    """One fresh transform per synthetic-defect family, by name (the single-family presets)."""
    from inspect_svdd.model.defects import CutOut, Dent, PerlinBlend, Smudge, Spots

    return {"cutpaste": CutPaste(), "scar": Scar(), "perlin": PerlinBlend(), "smudge": Smudge(), "cutout": CutOut(),
            "dent": Dent(), "spots": Spots()}


def defect_preset(name: str, seed: int | None = None) -> A.Compose:
    """The named synthetic-defect pipeline: one family, ``cutpaste-scar`` (each half the time) or ``mixed`` (any family)."""
    families = defect_families()
    if name == "cutpaste-scar":
        transforms: list[Any] = [A.OneOf([families["cutpaste"], families["scar"]], p=1.0)]
    elif name == "mixed":
        transforms = [A.OneOf(list(families.values()), p=1.0)]
    else:
        transforms = [families[name]]
    return A.Compose(transforms, seed=seed)
