"""Where an image is anomalous: heat maps, their hottest region, overlays, and how well they localise.

Two methods, both giving a map over the network input (S x S) in units of
the model's R² (its radius, set from the golden images), so one scale holds
for every image of a model: a good part stays cool instead of being
stretched to full colour as a per-image min-max would.

- ``occlusion``: each patch in turn is replaced by the same patch of the
  model's reference image (the golden images' mean input; a blurred copy of
  the image for models without one) and the heat is how much that lowers
  the rule's statistic. It needs
  only a backend's ``distances``, so it runs through ONNX Runtime on a line
  PC without PyTorch (and through PyTorch alike).
- ``gradcam``: Grad-CAM of the statistic on the encoder's last convolution
  stage (:mod:`inspect_svdd.evaluate.gradcam`); one backward pass, needs PyTorch.
- ``map``: the local model's own anomaly map (an output of its graph, one
  pass, both backends), upsampled from its 4x4-pixel cells. ``auto`` takes it
  whenever the model has one.

numpy and OpenCV only here, so the runtime install can use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from inspect_svdd.config import PreprocessConfig
from inspect_svdd.errors import ConfigError
from inspect_svdd.io.images import decode_image
from inspect_svdd.io.preprocess import content_box, preprocess

if TYPE_CHECKING:
    from inspect_svdd.deploy.scoring import Backend

METHODS = ("occlusion", "gradcam", "map")
HOT = 0.5  # the hottest region: pixels at least this share of the image's peak, connected to it
FULL = 8.0  # heat (in R²) drawn in full colour; the scale is logarithmic below it, the same for every image


@dataclass(frozen=True)
class Occlusion:
    """Occlusion settings: patch side and step as fractions of the input side."""

    patch: float = 0.125
    stride: float = 0.0625
    batch_size: int = 64

    def heat(self, backend: Backend, image: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
        """Map (the image's rows x columns) of how much hiding each region lowers the statistic, in units of R².

        A region is hidden by the same region of ``reference`` (a nominal
        part, e.g. the golden images' median), or of a blurred copy of the image.
        Patch and stride are shares of the shorter side.
        """
        rows, cols = image.shape[:2]
        side = min(rows, cols)
        patch, stride = max(int(side * self.patch), 2), max(int(side * self.stride), 1)
        blurred = reference if reference is not None else cv2.GaussianBlur(image, (0, 0), patch / 2).reshape(image.shape)
        boxes = [(y, x) for y in sorted({*range(0, rows - patch + 1, stride), rows - patch})
                 for x in sorted({*range(0, cols - patch + 1, stride), cols - patch})]
        base = float(backend.distances(image[None])[0])
        drops = []
        for i in range(0, len(boxes), self.batch_size):
            batch = np.repeat(image[None], len(boxes[i : i + self.batch_size]), axis=0)
            for b, (y, x) in enumerate(boxes[i : i + self.batch_size]):
                batch[b, y : y + patch, x : x + patch] = blurred[y : y + patch, x : x + patch]
            drops.append(base - backend.distances(batch))
        total = np.zeros((rows, cols))
        count = np.zeros((rows, cols))
        for (y, x), drop in zip(boxes, np.concatenate(drops), strict=True):
            total[y : y + patch, x : x + patch] += max(float(drop), 0.0)
            count[y : y + patch, x : x + patch] += 1
        heat = cv2.GaussianBlur(total / np.maximum(count, 1), (0, 0), stride / 2)  # soften the patch grid
        return heat / max(backend.radius**2, 1e-12)


class HeatMapper:
    """Heat maps of one backend's model by one method, written as overlays.

    Args:
        backend: a scoring backend; ``gradcam`` needs the torch one.
        method: ``occlusion``, ``gradcam``, ``map`` or ``auto`` (the model's
            anomaly map when it has one, else occlusion, the one that works on
            both backends; see the README for how they compare).

    Raises:
        ConfigError: Grad-CAM asked of a backend without PyTorch, or a map of a model without one.
    """

    def __init__(self, backend: Backend, method: str = "auto", occlusion: Occlusion | None = None) -> None:
        dense = bool(getattr(backend, "has_map", False))
        self.method = ("map" if dense else "occlusion") if method == "auto" else method
        if self.method not in METHODS:
            raise ConfigError(f"heat-map method {method!r} unknown; choose one of {', '.join(METHODS)} or auto")
        if self.method == "map" and not dense:
            raise ConfigError("this model has no anomaly map (only local models have one): use --heatmap-method "
                              "occlusion or auto")
        if self.method == "gradcam" and not hasattr(backend, "det"):
            raise ConfigError("Grad-CAM needs PyTorch: use --backend torch, or --heatmap-method occlusion "
                              "(works through ONNX Runtime)")
        self.backend = backend
        self.occlusion = occlusion or Occlusion()

    def heat(self, image: np.ndarray) -> np.ndarray:
        """The map (units of R²) of one preprocessed image, on its grid."""
        if self.method == "occlusion":  # hides regions of the photograph itself: already on its grid
            return self.occlusion.heat(self.backend, image, getattr(self.backend, "reference", None))
        if self.method == "gradcam":
            from inspect_svdd.evaluate.gradcam import gradcam

            heat = gradcam(self.backend.det, image[None])[0]  # type: ignore[attr-defined]
        else:
            cells = self.backend.maps(image[None])[0]  # type: ignore[attr-defined]
            rows, cols = image.shape[:2]
            heat = cv2.resize(cells, (cols, rows), interpolation=cv2.INTER_LINEAR) / max(self.backend.radius**2, 1e-12)
        aligner = getattr(self.backend, "aligner", None)  # a registered part: both are in the reference's place
        return heat if aligner is None else aligner.unregister(image, heat)

    def of_file(self, source: str | Path) -> tuple[np.ndarray, np.ndarray]:
        """The decoded image and its heat on the image's own grid."""
        image = decode_image(source)
        heat = self.heat(preprocess(image, self.backend.preprocess, source))
        return image, to_image(heat, image.shape[:2], self.backend.preprocess)

    def write(self, source: str | Path, target: Path) -> Path:
        """Overlay for ``source`` written to ``target`` (PNG)."""
        return save_overlay(*self.of_file(source), target)


def save_overlay(image: np.ndarray, heat: np.ndarray, target: Path) -> Path:
    """Write :func:`overlay` of a decoded image and its heat (same grid) to ``target`` (PNG)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(target), cv2.cvtColor(overlay(image, heat), cv2.COLOR_RGB2BGR)):
        raise OSError(f"{target}: cannot write the heat map")
    return target


def target_for(source: Path, root: Path, out_dir: Path) -> Path:
    """Where the overlay of ``source`` (found under ``root``) goes: the same relative path under ``out_dir``, as PNG."""
    try:
        relative = source.relative_to(root) if root.is_dir() else Path(source.name)
    except ValueError:
        relative = Path(source.name)
    return (out_dir / relative).with_suffix(".png")


def to_image(heat: np.ndarray, shape: tuple[int, int], cfg: PreprocessConfig) -> np.ndarray:
    """A map over the network input brought back onto the original H x W image (zero outside the ROI)."""
    h, w = shape
    x, y, rw, rh = cfg.roi or (0, 0, w, h)
    by, bx, bh, bw = content_box((rh, rw), cfg)
    heat = heat[by : by + bh, bx : bx + bw]  # aspect kept: the mirrored margins are not the image
    if cfg.roi is None:
        return cv2.resize(heat.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((h, w), np.float32)
    out[y : y + rh, x : x + rw] = cv2.resize(heat.astype(np.float32), (rw, rh), interpolation=cv2.INTER_LINEAR)
    return out


def hottest_region(heat: np.ndarray) -> np.ndarray:
    """Boolean mask of the pixels at least :data:`HOT` of the peak that are connected to the peak."""
    peak = float(heat.max())
    if peak <= 0:
        return np.zeros(heat.shape, bool)
    _, labels = cv2.connectedComponents((heat >= HOT * peak).astype(np.uint8), connectivity=8)
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return np.asarray(labels == labels[y, x])


def overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """RGB picture: the image, heat in inferno (transparent where cool), the hottest region outlined in cyan.

    ``heat`` is on the image's own grid, in units of R²; colour follows
    ``log(1 + heat) / log(1 + FULL)``, one fixed scale for every image.
    """
    rgb = image if image.shape[2] == 3 else np.repeat(image, 3, axis=2)
    level = np.clip(np.log1p(np.maximum(heat, 0)) / np.log1p(FULL), 0, 1)
    colour = cv2.cvtColor(cv2.applyColorMap((level * 255).astype(np.uint8), cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    alpha = (0.15 + 0.6 * level)[..., None] * (level[..., None] > 0.1)  # below 0.25 R²: left clear
    out = (rgb * (1 - alpha) + colour * alpha).astype(np.uint8)
    if level.max() <= 0.1:
        return out  # nothing hot enough to show, so no outline either
    region = hottest_region(heat).astype(np.uint8)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (0, 255, 255), max(1, min(rgb.shape[:2]) // 200))
    return out


def localisation(heats: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                 kinds: Sequence[str] | None = None) -> dict[str, Any]:
    """How well heat maps point at defects, against ground-truth masks on the same grid.

    Returns the share of defects whose hottest region overlaps their mask, the
    mean share of the image that region covers (a region as big as the image
    would overlap anything), and the pixel-level AUROC over all given images
    (good ones have empty masks). With each image's ``kinds`` (its label folder;
    ``good`` for good parts), ``per_type`` has the same figures for each defect
    type, its pixel AUROC pooled over that type's images and the good ones: one
    type with large masks (magnetic tiles' uneven surfaces, a quarter of their
    image) can otherwise hide how the others are found.
    """
    figures = _localised(heats, masks)
    if kinds is None:
        return figures
    per_type = {}
    for kind in sorted(set(kinds) - {"good"}):
        keep = [i for i, k in enumerate(kinds) if k in (kind, "good")]
        per_type[kind] = _localised([heats[i] for i in keep], [masks[i] for i in keep])
    return {**figures, "per_type": per_type}


def _localised(heats: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    hits, areas = [], []
    for heat, mask in zip(heats, masks, strict=True):
        if mask.any():
            region = hottest_region(heat)
            hits.append(bool((region & mask).any()))
            areas.append(float(region.mean()))
    pixels = np.concatenate([m.ravel() for m in masks])
    values = np.concatenate([h.ravel() for h in heats])
    return {"defects": len(hits), "hottest_region_hits": float(np.mean(hits)) if hits else float("nan"),
            "hottest_region_area": float(np.mean(areas)) if areas else float("nan"),
            "pixel_auroc": float(roc_auc_score(pixels, values)) if 0 < pixels.sum() < pixels.size else float("nan")}


def mask_for(image: Path, labelled_root: Path) -> Path | None:
    """The MVTec ground-truth mask of a labelled image, if there is one.

    ``<root>/ground_truth/<type>/<name>_mask.png`` (MVTec AD) or ``<name>.png``
    (Magnetic Tile); ``root`` is the folder holding ``test/``, or the labelled
    folder's parent for a layout like ``samples/incoming`` + ``samples/ground_truth``.
    """
    for base in (labelled_root, labelled_root.parent):
        folder = base / "ground_truth" / image.parent.name
        for name in (f"{image.stem}_mask.png", f"{image.stem}.png"):
            if (folder / name).is_file():
                return folder / name
    return None
