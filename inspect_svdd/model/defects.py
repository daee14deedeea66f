"""More synthetic defect families: Perlin-shaped blends, smudges, missing regions, brightness dents.

With CutPaste and scar (:mod:`inspect_svdd.model.synthetic`) they make the
validation defects that ``fit`` judges its candidate scorers on, and they can
train Deep SAD like the others. Each is an albumentations transform seeded by
its ``Compose``, so ``augment --augment mixed`` previews exactly what ``fit``
makes.

* :class:`PerlinBlend` (DRAEM, Zavrtanik et al. 2021): a smooth random blob
  mask, thresholded, inside which a flat random colour or a shifted copy of the
  image (another texture) is blended in.
* :class:`Smudge`: a local blur inside a soft ellipse (a dirty or melted spot).
* :class:`CutOut`: a region replaced by a flat tone (a missing piece, a hole).
* :class:`Dent`: a Gaussian-shaped brightness change (a dent or a shadowed bump).
* :class:`Spots`: a few small sharp specks (pits, blowholes, pinholes, dust).
"""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network check at import
import albumentations as A

VISIBLE = 20  # grey levels: a change a defect must make somewhere

def _pair(values: tuple[float, float]) -> tuple[float, float]:
    """A (min, max) range as two floats (albumentations may hand back lists)."""
    return float(values[0]), float(values[1])


def _blob_mask(rng: np.random.Generator, rows: int, cols: int, area: float) -> np.ndarray:
    """A float mask in [0, 1] of smooth random blobs covering about ``area`` of the image (value noise, 2 octaves)."""
    noise = np.zeros((rows, cols), np.float32)
    for cells, weight in ((int(rng.integers(2, 6)), 1.0), (int(rng.integers(6, 12)), 0.5)):
        grid = rng.standard_normal((cells, cells)).astype(np.float32)
        noise += weight * cv2.resize(grid, (cols, rows), interpolation=cv2.INTER_CUBIC)
    cut = np.quantile(noise, 1 - area)
    return np.clip((noise - cut) / (noise.std() * 0.15 + 1e-6), 0, 1)


def _ellipse(rng: np.random.Generator, rows: int, cols: int, size: tuple[float, float], soft: float,
             centre: tuple[int, int] | None = None) -> np.ndarray:
    """A soft-edged random ellipse as a float mask in [0, 1]; ``size`` is its half-axis range (fraction of the side)."""
    side = min(rows, cols)
    axes = (max(2, int(rng.uniform(*size) * side)), max(2, int(rng.uniform(*size) * side)))
    centre = centre or (int(rng.integers(0, cols)), int(rng.integers(0, rows)))
    mask = np.zeros((rows, cols), np.float32)
    cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    blur = max(1, int(soft * min(axes))) * 2 + 1
    return cv2.GaussianBlur(mask, (blur, blur), 0)


def _blend(img: np.ndarray, other: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[:, :, None]
    out = img.astype(np.float32) * (1 - m) + other.astype(np.float32).reshape(img.shape) * m
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class _Seeded(A.ImageOnlyTransform):
    """A transform whose whole draw comes from one seed taken from the Compose's generator."""

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """One seed per call: the rest is drawn in :meth:`apply` from it."""
        return {"seed": int(self.random_generator.integers(2**31))}

    def apply(self, img: np.ndarray, seed: int, **_: Any) -> np.ndarray:
        """Make the defect on ``img`` (H x W x C uint8), drawing again (a few times) while it is invisible.

        A blur over a flat area or a fill in the tone around it changes
        nothing: such a "defect" is a good part and would only blur the
        comparison of scorers. Visible: at least 0.2 % of the pixels change by
        ``VISIBLE`` grey levels or more.
        """
        image = img if img.ndim == 3 else img[:, :, None]
        rng = np.random.default_rng(seed)
        for _attempt in range(8):
            out = self.make(image, rng)
            changed = np.abs(out.astype(np.int16) - image.astype(np.int16)).max(axis=2) >= VISIBLE
            if changed.mean() >= 0.002:
                break
        return out.reshape(img.shape)

    def make(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The defect itself; subclasses implement it."""
        raise NotImplementedError


class PerlinBlend(_Seeded):
    """DRAEM's anomaly: blob-shaped blend of a flat colour or a shifted copy of the image.

    Args:
        area: share of the image the blobs cover (min, max).
        opacity: blend strength range.
    """

    def __init__(self, area: tuple[float, float] = (0.01, 0.06), opacity: tuple[float, float] = (0.5, 1.0),
                 p: float = 1.0) -> None:
        super().__init__(p=p)
        self.area, self.opacity = _pair(area), _pair(opacity)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Arguments that ``albumentations.save`` records."""
        return ("area", "opacity")

    def make(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Blend a colour or another part of the image through blob masks."""
        rows, cols = img.shape[:2]
        mask = _blob_mask(rng, rows, cols, float(rng.uniform(*self.area))) * float(rng.uniform(*self.opacity))
        if rng.random() < 0.5:
            other = np.full_like(img, 0) + rng.integers(0, 256, img.shape[2]).astype(np.uint8)
        else:
            other = np.roll(img, (int(rng.integers(rows // 4, rows)), int(rng.integers(cols // 4, cols))), (0, 1))
            other = cv2.flip(other, int(rng.integers(-1, 2))).reshape(img.shape)
        return _blend(img, other, mask)


class _Sized(_Seeded):
    """A defect drawn in a region whose size (a fraction of the image side, min and max) is its one setting."""

    default_size: tuple[float, float] = (0.04, 0.12)

    def __init__(self, size: tuple[float, float] | None = None, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.size = _pair(size or self.default_size)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Arguments that ``albumentations.save`` records."""
        return ("size",)


class Smudge(_Sized):
    """A local blur inside a soft ellipse; ``size``: its half-axes as a fraction of the image side."""

    def make(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Blur the image, keep the blur inside the ellipse."""
        rows, cols = img.shape[:2]
        k = max(3, int(min(rows, cols) * float(rng.uniform(0.04, 0.1)))) | 1
        blurred = cv2.GaussianBlur(img, (k, k), 0).reshape(img.shape)
        change = np.abs(blurred.astype(np.int16) - img.astype(np.int16)).max(axis=2)
        where = np.argwhere(change >= np.quantile(change, 0.95))  # a blur shows where there is detail to smear
        y, x = where[rng.integers(len(where))]
        centre = (int(x), int(y))
        return _blend(img, blurred, _ellipse(rng, rows, cols, self.size, 0.3, centre))


class CutOut(_Sized):
    """An ellipse filled with a flat tone, a missing piece; ``size``: its half-axes as a fraction of the side."""

    default_size = (0.03, 0.1)

    def make(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Fill the region with the image's darkest, brightest or median tone."""
        rows, cols = img.shape[:2]
        tone = np.quantile(img.reshape(-1, img.shape[2]), float(rng.choice([0.02, 0.5, 0.98])), axis=0)
        mask = (_ellipse(rng, rows, cols, self.size, 0.0) > 0.5).astype(np.float32)
        return _blend(img, np.broadcast_to(tone.astype(np.uint8), img.shape), mask)


class Dent(_Seeded):
    """A Gaussian-shaped brightening or darkening: a dent, a bump, a local shadow.

    Args:
        size: radius as a fraction of the image side (min, max).
        strength: largest brightness change in grey levels (min, max).
    """

    def __init__(self, size: tuple[float, float] = (0.03, 0.09), strength: tuple[float, float] = (30.0, 80.0),
                 p: float = 1.0) -> None:
        super().__init__(p=p)
        self.size, self.strength = _pair(size), _pair(strength)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Arguments that ``albumentations.save`` records."""
        return ("size", "strength")

    def make(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Add a signed Gaussian bump."""
        rows, cols = img.shape[:2]
        sigma = float(rng.uniform(*self.size)) * min(rows, cols)
        y, x = np.ogrid[:rows, :cols]
        cy, cx = rng.uniform(0, rows), rng.uniform(0, cols)
        bump = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2)).astype(np.float32)
        bump[bump < 0.1] = 0  # local: nothing beyond about two sigmas
        sign = 1.0 if rng.random() < 0.5 else -1.0
        out = img.astype(np.float32) + sign * float(rng.uniform(*self.strength)) * bump[:, :, None]
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class Spots(_Seeded):
    """A few small, sharp dark or bright specks: pits, blowholes, pinholes, dust.

    Args:
        count: how many specks (min, max).
        size: speck radius as a fraction of the image side (min, max).
    """

    def __init__(self, count: tuple[float, float] = (1, 4), size: tuple[float, float] = (0.01, 0.035),
                 p: float = 1.0) -> None:
        super().__init__(p=p)
        self.count, self.size = _pair(count), _pair(size)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Arguments that ``albumentations.save`` records."""
        return ("count", "size")

    def make(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw each speck as a soft disc in a tone far from the image's median, near the first one."""
        rows, cols = img.shape[:2]
        side = min(rows, cols)
        mask = np.zeros((rows, cols), np.float32)
        cy, cx = int(rng.integers(0, rows)), int(rng.integers(0, cols))
        for _ in range(int(rng.integers(int(self.count[0]), int(self.count[1]) + 1))):
            y = int(np.clip(cy + rng.normal(0, 0.05 * side), 0, rows - 1))
            x = int(np.clip(cx + rng.normal(0, 0.05 * side), 0, cols - 1))
            cv2.circle(mask, (x, y), max(1, int(rng.uniform(*self.size) * side)), 1.0, -1, cv2.LINE_AA)
        median = np.median(img.reshape(-1, img.shape[2]), axis=0)
        tone = np.where(median > 127, 255 * rng.uniform(0, 0.15), 255 * rng.uniform(0.85, 1.0))
        if rng.random() < 0.3:  # now and then the other way round
            tone = 255 - tone
        return _blend(img, np.broadcast_to(tone.astype(np.uint8), img.shape), mask)
