"""Registration: each network input shifted onto the golden reference before it is scored.

Parts on a line never sit at exactly the same place. A detector trained on the
golden images learns the edge of their placement range, and a good part placed
a little beyond it fails (issue 22: the samples' false rejects were such parts).
Registering every input onto the reference (the golden images' mean input) by
phase correlation removes the placement before the network sees the part.

A part displaced further than the golden images ever were (``limit`` pixels,
learned at fit with margin) is not moved: it is scored as it is, so a misplaced
part still fails, and a part whose registration is meaningless (a missing print
correlating anywhere) is not pulled onto the reference either.

numpy/OpenCV only: the torch-free runtime applies the same code to the same
uint8 inputs, so both backends score the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from inspect_svdd.errors import ConfigError, ModelError, first_line

RANGE_QUANTILE = 0.99  # the golden images' range: this quantile of their offsets (and gains), robust to a stray one
LIMIT_MARGIN = 1.5  # the limit is this many times the golden range ...
LIMIT_FLOOR = 0.05  # ... and at least this fraction of the input's shorter side (one golden image has no spread)
GAIN_FLOOR = float(np.log(1.15))  # exposure: corrected up to this |log gain| at least (one golden image has no spread)
AUTO_PEAK = 0.2  # align auto: the golden images' median phase-correlation peak at least this (samples 0.955, the first
# 300 golden castings 0.794, magnetic tiles 0.064: a texture has no place to register to) ...
AUTO_SPREAD = 0.05  # ... and the golden range of offsets at most this fraction of the input's shorter side (samples
# 2.2 px of 128, casting 7.7: 37 of its 959 golden castings register more than 6.4 px off, some 58 px: turned round
# parts give spurious peaks; registered anyway, casting fell from AUROC 98.8 to 96.2, recipes/results/align/)


def _grey(image: np.ndarray) -> np.ndarray:
    """float32 grey of a uint8 HxWxC image."""
    grey = image[:, :, 0] if image.shape[2] == 1 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return grey.astype(np.float32)


@dataclass(frozen=True)
class Aligner:
    """Shift uint8 HxWxC network inputs onto ``reference`` (phase correlation, sub-pixel).

    Attributes:
        reference: uint8 HxWxC, the shape of the network input.
        limit: largest offset in pixels that is corrected; a part further off is scored as it is.
        gain_limit: exposure too: each image is scaled to the reference's mean brightness when
            ``|log gain|`` is at most this (0: exposure left alone); a part further off stays as it is.
    """

    reference: np.ndarray
    limit: float
    gain_limit: float = 0.0
    _grey_reference: np.ndarray = field(init=False, repr=False, compare=False)  # computed once: scoring's hot path
    _window: np.ndarray = field(init=False, repr=False, compare=False)
    _mean: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.reference.ndim != 3 or self.reference.dtype != np.uint8 or min(self.reference.shape[:2]) < 8:
            raise ConfigError(f"alignment reference must be a uint8 HxWxC image, got {self.reference.dtype} "
                              f"{self.reference.shape}")
        if np.isnan(self.limit) or self.limit < 0 or not self.gain_limit >= 0:
            raise ConfigError(f"alignment limits must be >= 0, got {self.limit} px and gain {self.gain_limit}")
        grey = _grey(self.reference)
        object.__setattr__(self, "_grey_reference", grey)
        object.__setattr__(self, "_window", cv2.createHanningWindow(grey.shape[::-1], cv2.CV_32F))
        object.__setattr__(self, "_mean", float(self.reference.mean(dtype=np.float64)))

    def offset(self, image: np.ndarray) -> tuple[float, float, float]:
        """``(dx, dy, peak)``: how far ``image`` sits from the reference in pixels, and the correlation peak."""
        # OpenCV 5.0's phaseCorrelate windows both inputs in place: it gets a copy of the reference and a fresh grey
        (dx, dy), peak = cv2.phaseCorrelate(self._grey_reference.copy(), _grey(image), self._window)
        return float(dx), float(dy), float(peak)

    def correction(self, image: np.ndarray) -> tuple[float, float, float]:
        """``(dx, dy, length)``: the offset :meth:`apply` undoes, zero when it is over the limit (left as it is)."""
        dx, dy, _ = self.offset(image)
        length = float(np.hypot(dx, dy))
        return (0.0, 0.0, length) if length > self.limit else (dx, dy, length)

    def apply(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The registered uint8 NHWC batch and each image's offset length in pixels.

        Raises:
            ConfigError: the batch's images are not the reference's shape.
        """
        if batch.shape[1:] != self.reference.shape:
            raise ConfigError(f"images of shape {batch.shape[1:]} cannot be aligned to a reference of shape "
                              f"{self.reference.shape}")
        out = np.empty_like(batch)
        lengths = np.empty(len(batch))
        for i, image in enumerate(batch):
            dx, dy, lengths[i] = self.correction(image)
            out[i] = shift(image, -dx, -dy) if dx or dy else image
            if self.gain_limit > 0:
                out[i] = self._exposed(out[i])
        return out, lengths

    def gain(self, image: np.ndarray) -> float:
        """The factor that brings ``image``'s mean brightness to the reference's."""
        return float(self._mean / max(image.mean(dtype=np.float64), 1.0))

    def _exposed(self, image: np.ndarray) -> np.ndarray:
        gain = self.gain(image)
        if abs(np.log(gain)) > self.gain_limit:
            return image
        return np.clip(image * gain, 0, 255).round().astype(np.uint8)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The registered batch (see :meth:`apply`)."""
        return self.apply(batch)[0]

    def unregister(self, image: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``values`` (float HxW, computed on ``image`` registered) moved back onto ``image``'s own grid.

        A heat map of a registered part is in the reference's coordinates; drawn
        over the photograph, or compared with a mask of it, it must be where the
        part was. An image that :meth:`apply` left as it was (offset over the
        limit) is returned as it is.
        """
        dx, dy, _ = self.correction(image)
        return moved(values[..., None].astype(np.float64), dx, dy)[..., 0] if dx or dy else values


def shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """uint8 HxWxC ``image`` moved by ``(dx, dy)`` pixels (bilinear, edges repeated), same shape and dtype.

    In float64 numpy rather than OpenCV's warpAffine, whose fixed-point rounding changed between
    OpenCV 5.0 and 5.1 (up to 2 grey levels on some pixels): the torch-free runtime, installed with
    whatever OpenCV its line PC gets, must register exactly as training did.
    """
    return np.clip(np.rint(moved(image.astype(np.float64), dx, dy)), 0, 255).astype(np.uint8)


def moved(values: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Float64 HxWxC ``values`` moved by ``(dx, dy)`` pixels (bilinear, edges repeated): :func:`shift` without rounding."""
    rows, cols = values.shape[:2]
    x, y = np.arange(cols) - dx, np.arange(rows) - dy
    x0, y0 = np.floor(x), np.floor(y)
    wx, wy = (x - x0)[None, :, None], (y - y0)[:, None, None]
    left, right = np.clip(x0.astype(int), 0, cols - 1), np.clip(x0.astype(int) + 1, 0, cols - 1)
    top, bottom = np.clip(y0.astype(int), 0, rows - 1), np.clip(y0.astype(int) + 1, 0, rows - 1)
    upper = values[top][:, left] * (1 - wx) + values[top][:, right] * wx
    lower = values[bottom][:, left] * (1 - wx) + values[bottom][:, right] * wx
    return upper * (1 - wy) + lower * wy


def fit_aligner(images: np.ndarray, mode: str = "auto", gain: bool = True) -> tuple[Aligner | None, dict[str, Any]]:
    """An aligner for golden uint8 NHWC images (None: alignment off), and the facts it was decided on.

    The reference is the golden images' mean after one round of registration
    onto their plain mean (sharper than the plain mean). Offsets and peaks are
    measured with each image left out of the mean. The golden range is the
    ``RANGE_QUANTILE`` of the offsets; the limit is ``LIMIT_MARGIN`` times it,
    at least ``LIMIT_FLOOR`` of the input's shorter side. ``mode`` ``auto``
    turns registration on when the golden images register well (``AUTO_PEAK``,
    ``AUTO_SPREAD``). With ``gain`` exposure is registered too, up to
    ``LIMIT_MARGIN`` times the golden range of ``|log gain|``, at least ``GAIN_FLOOR``.
    """
    if mode == "off":
        return None, {"mode": "off", "aligned": False}
    registered, found = _golden_offsets(images)
    reference = registered.mean(axis=0).round().astype(np.uint8)
    lengths, peak = np.hypot(found[:, 0], found[:, 1]), float(np.median(found[:, 2]))
    side = min(images.shape[1:3])
    spread = float(np.quantile(lengths, RANGE_QUANTILE))
    limit = max(LIMIT_MARGIN * spread, LIMIT_FLOOR * side)
    shifted = Aligner(reference, limit)
    gains = np.abs(np.log([shifted.gain(image) for image in shifted(images)]))
    gain_range = float(np.quantile(gains, RANGE_QUANTILE))
    gain_limit = max(LIMIT_MARGIN * gain_range, GAIN_FLOOR) if gain else 0.0
    aligned = mode == "on" or (peak >= AUTO_PEAK and spread <= AUTO_SPREAD * side)
    facts = {"mode": mode, "aligned": aligned, "limit": round(limit, 3), "gain_limit": round(gain_limit, 4),
             "median_peak": round(peak, 3), "offset_p99": round(spread, 3),
             "largest_golden_offset": round(float(lengths.max()), 3), "log_gain_p99": round(gain_range, 4)}
    return (Aligner(reference, limit, gain_limit) if aligned else None), facts


def golden_peak(images: np.ndarray) -> float:
    """The golden images' median phase-correlation peak, each against the mean of the others (leave-one-out).

    High (samples 0.956, castings 0.801) where a part is placed in the frame;
    low (magnetic tiles 0.081) for a texture, which has no place to register to.
    """
    return float(np.median(_golden_offsets(images)[1][:, 2]))


def _golden_offsets(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The golden images registered onto their plain mean (float64), and each one's left-out ``(dx, dy, peak)``."""
    mean = images.mean(axis=0, dtype=np.float64).round().astype(np.uint8)
    registered = Aligner(mean, float("inf"))(images).astype(np.float64)
    return registered, np.array(_left_out_offsets(images, registered))


def _left_out_offsets(images: np.ndarray, registered: np.ndarray) -> list[tuple[float, float, float]]:
    """Each image's ``(dx, dy, peak)`` against the mean of the others, as a new part would meet the reference.

    Against a mean that holds the image itself, a few golden images would
    correlate with themselves: even textures would seem to register. One
    image has no others: it registers onto itself.
    """
    if len(images) == 1:
        return [(0.0, 0.0, 1.0)]
    total = registered.sum(axis=0)
    n = len(images)
    return [Aligner(((total - other) / (n - 1)).round().astype(np.uint8), float("inf")).offset(image)
            for image, other in zip(images, registered, strict=True)]


def aligner_from(facts: dict[str, Any], reference: np.ndarray | None, where: str) -> Aligner | None:
    """The aligner a saved model records (``alignment`` facts and its reference image); None when off.

    Raises:
        ModelError: alignment is on but the reference or the limit is missing or unusable.
    """
    if not facts.get("aligned"):
        return None
    if reference is None:
        raise ModelError(f"{where}: the model registers its inputs but has no reference image")
    try:
        return Aligner(reference, float(facts["limit"]), float(facts.get("gain_limit", 0.0)))
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise ModelError(f"{where}: unusable alignment settings ({first_line(exc)})") from None
