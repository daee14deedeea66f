"""Augmentation presets and pipeline files, in albumentations' own format.

A preset is a plain albumentations ``Compose``; a custom pipeline is a file
written by ``albumentations.save`` (JSON or YAML) and read back with
``albumentations.load``. ``fit`` (on the fly) and ``augment`` (to disk) both get
their pipeline from :func:`build_pipeline`, so they cannot drift apart.

Every preset keeps a good part good: photometric changes a camera and lighting
produce, and for ``jitter`` the small shifts, rotations and scale changes a
fixture allows. Nothing adds, removes or hides structure. The synthetic-defect
presets (:data:`~inspect_svdd.model.synthetic.DEFECT_PRESETS`) do the opposite on
purpose: they make bad parts from good ones for training, and ``augment`` can
write them out for a look.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspect_svdd.errors import ConfigError
from inspect_svdd.model.synthetic import DEFECT_PRESETS, defect_preset

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network check at import
import albumentations as A

PRESETS = ("none", "photometric", "jitter")


def _photometric() -> list[Any]:
    return [
        A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.8),
        A.RandomGamma(gamma_limit=(90, 110), p=0.5),
        A.GaussNoise(std_range=(0.005, 0.02), p=0.5),
        A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.1, 0.6), p=0.2),
        A.ImageCompression(quality_range=(85, 100), p=0.2),
    ]


def _geometric() -> list[Any]:
    return [
        A.Affine(
            translate_percent=(-0.012, 0.012),
            rotate=(-1.0, 1.0),
            scale=(0.99, 1.01),
            border_mode=cv2.BORDER_REPLICATE,
            p=0.5,
        )
    ]


def preset(name: str, seed: int | None = None) -> A.Compose:
    """Return the named preset as an albumentations Compose."""
    if name == "none":
        transforms: list[Any] = []
    elif name == "photometric":
        transforms = _photometric()
    elif name == "jitter":
        transforms = _geometric() + _photometric()
    else:
        raise ConfigError(f"unknown augmentation preset {name!r}; choose {', '.join(PRESETS)} or a pipeline file")
    return A.Compose(transforms, seed=seed)


def load_pipeline_file(path: str | Path, seed: int | None = None) -> A.Compose:
    """Load a pipeline saved by ``albumentations.save`` (.json, .yaml or .yml)."""
    path = Path(path)
    fmt = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "json"
    try:
        loaded = A.load(str(path), data_format=fmt)
    except FileNotFoundError:
        raise ConfigError(f"{path}: augmentation file not found") from None
    except Exception as exc:  # albumentations raises many types for a bad file
        raise ConfigError(f"{path}: not an albumentations pipeline file ({type(exc).__name__}: {exc})") from None
    if not isinstance(loaded, A.Compose):
        loaded = A.Compose([loaded])
    loaded.set_random_seed(seed)
    return loaded


def build_pipeline(spec: str, seed: int | None = None) -> A.Compose:
    """A preset name (good-part or synthetic-defect) or a pipeline file path -> a seeded Compose."""
    if spec in PRESETS:
        return preset(spec, seed)
    if spec in DEFECT_PRESETS:
        return defect_preset(spec, seed)
    if Path(spec).suffix.lower() in (".json", ".yaml", ".yml"):
        return load_pipeline_file(spec, seed)
    names = ", ".join(PRESETS + DEFECT_PRESETS)
    raise ConfigError(f"unknown augmentation {spec!r}; choose {names} or a .json/.yaml pipeline file")


def dump_pipeline(spec: str, path: str | Path) -> None:
    """Write a preset (or a loaded file) in albumentations' serialisation format."""
    path = Path(path)
    fmt = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "json"
    A.save(build_pipeline(spec), str(path), data_format=fmt)


def apply(pipeline: A.Compose, image: np.ndarray) -> np.ndarray:
    """Augment one uint8 HxWxC image, keeping its shape and dtype."""
    out = pipeline(image=image)["image"]
    if out.ndim == 2:
        out = out[:, :, None]
    return np.ascontiguousarray(out, dtype=np.uint8)


def with_views(images: np.ndarray, augment: str, seed: int, count: int) -> np.ndarray:
    """``images`` followed by ``count`` augmented views of each (all of the first round, then the next), seeded.

    ``count`` 0 or augmentation ``none`` returns ``images`` as they are.
    """
    if count == 0 or augment == "none":
        return images
    pipeline = build_pipeline(augment, seed)
    return np.concatenate([images, np.stack([apply(pipeline, image) for _ in range(count) for image in images])])


def image_seed(seed: int, source_index: int, copy_index: int) -> int:
    """Seed of one augmented copy, so each output can be reproduced on its own."""
    return (seed * 1_000_003 + source_index * 1_009 + copy_index) % 2**31


def augmented_copy(pipeline: A.Compose, image: np.ndarray, seed: int) -> np.ndarray:
    """One augmentation of ``image`` drawn with ``seed`` (reseeds the pipeline)."""
    pipeline.set_random_seed(seed)
    return apply(pipeline, image)


def expand(images: np.ndarray, pipeline: A.Compose, target: int, seed: int) -> np.ndarray:
    """Grow a too-small golden set to ``target`` images with augmented copies.

    The originals come first, then copies drawn round-robin from them.
    """
    out = list(images)
    k = 0
    while len(out) < target:
        src = k % len(images)
        out.append(augmented_copy(pipeline, images[src], image_seed(seed, src, k // len(images) + 1)))
        k += 1
    return np.stack(out)
