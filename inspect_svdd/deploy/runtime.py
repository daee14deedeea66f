"""Torch-free scoring with ONNX Runtime: what a line PC needs.

Imports onnxruntime, numpy, OpenCV and the shared preprocessing only, never
torch. The ONNX file describes itself: preprocessing and radius come from its
metadata, so a deployment cannot preprocess differently from training::

    from inspect_svdd.deploy.runtime import OnnxScorer
    scorer = OnnxScorer("model/model.onnx")
    distance, score = scorer.score_file("part.png")   # score > 0: fail
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from inspect_svdd.config import PreprocessConfig
from inspect_svdd.errors import ConfigError, InspectError, ModelError, first_line
from inspect_svdd.io.align import aligner_from
from inspect_svdd.io.images import decode_bytes
from inspect_svdd.io.preprocess import load_image
from inspect_svdd.layout import FORMAT_VERSION, META_PREFIX, MODEL_JSON, READABLE_FORMATS

DEVICES = ("auto", "cpu", "cuda")


def cuda_device_count() -> int:
    """Number of CUDA devices the driver reports (0 without driver or GPU)."""
    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        lib = ctypes.CDLL(name)
        count = ctypes.c_int(0)
        if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return int(count.value)
    except (OSError, AttributeError):
        return 0


def _tensorrt_present() -> bool:
    for name in ("libnvinfer.so.10", "libnvinfer.so.8", "nvinfer_10.dll"):
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def _wanted_providers(device: str, available: list[str]) -> list[str]:
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        return ["CPUExecutionProvider"]
    gpu_ok = "CUDAExecutionProvider" in available and cuda_device_count() > 0
    if device == "cuda" and not gpu_ok:
        raise ConfigError("--device cuda: no usable CUDA device or CUDA provider on this machine")
    if not gpu_ok:
        return ["CPUExecutionProvider"]
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if "TensorrtExecutionProvider" in available and _tensorrt_present():
        providers.insert(0, "TensorrtExecutionProvider")
    return providers


class OnnxScorer:
    """Score uint8 images (or files) with an exported inspect-svdd ONNX model.

    Args:
        path: the ``.onnx`` file written by ``inspect-svdd export`` or ``fit``.
        device: ``auto`` (CUDA when it really works, else CPU), ``cpu`` or ``cuda``.
        threads: ONNX Runtime intra-op threads (default: all cores).
    """

    name = "onnx"

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: ONNX model file not found")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.log_severity_level = 3
        providers = _wanted_providers(device, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{self.path}: not a loadable ONNX model ({first_line(exc)})") from None
        self.provider = self.session.get_providers()[0]
        if device == "cuda" and self.provider == "CPUExecutionProvider":
            raise ConfigError("--device cuda: ONNX Runtime could not start its CUDA provider")
        self.metadata = {
            k[len(META_PREFIX) :]: v
            for k, v in self.session.get_modelmeta().custom_metadata_map.items()
            if k.startswith(META_PREFIX)
        }
        self._check_metadata()
        self.has_map = "map" in {o.name for o in self.session.get_outputs()}  # the local model's anomaly map
        try:
            self.preprocess = PreprocessConfig(**_preprocess_fields(self.metadata["preprocess"]))
            self.radius = float(self.metadata["radius"])
            self.golden_format = json.loads(self.metadata.get("training", "{}")).get("golden_format")
            drift = self.metadata.get("drift_reference")  # absent in files exported before the drift alarm
            self.drift_reference = float(drift) if drift else None
            reference = self.metadata.get("reference_png")
            self.reference = decode_bytes(base64.b64decode(reference), f"{self.path} reference image") if reference else None
            self.aligner = aligner_from(json.loads(self.metadata.get("alignment") or "{}"), self.reference, f"{self.path}")
        except (InspectError, TypeError, ValueError, AttributeError) as exc:  # e.g. keys from a newer inspect-svdd
            raise ModelError(f"{self.path}: invalid model metadata ({first_line(exc)})") from None

    def _check_metadata(self) -> None:
        missing = {"format_version", "radius", "preprocess"} - set(self.metadata)
        if missing:
            raise ModelError(f"{self.path}: not an inspect-svdd model (metadata lacks {', '.join(sorted(missing))})")
        if self.metadata["format_version"] not in map(str, READABLE_FORMATS):
            raise ModelError(
                f"{self.path}: model format version {self.metadata['format_version']} is not supported "
                f"(this runtime reads versions {READABLE_FORMATS[0]} to {FORMAT_VERSION}); re-export the model"
            )

    def distances(self, batch: np.ndarray) -> np.ndarray:
        """Squared distances of a uint8 (N, S, S, C) batch (registered first when the model aligns)."""
        batch = self._inputs(batch)
        return self.session.run(["distance"], {"images": batch})[0].astype(np.float64)

    def maps(self, batch: np.ndarray) -> np.ndarray:
        """Anomaly maps of a uint8 (N, H, W, C) batch, (N, H/4, W/4) (local models only; their largest cell is the distance).

        Raises:
            ModelError: the model has no map output (a global model).
        """
        if not self.has_map:
            raise ModelError(f"{self.path}: this model has no anomaly map output (only local models have one)")
        batch = self._inputs(batch)
        return self.session.run(["map"], {"images": batch})[0].astype(np.float64)

    def _inputs(self, batch: np.ndarray) -> np.ndarray:
        """The uint8 batch as the graph takes it: registered onto the reference when the model aligns."""
        batch = np.ascontiguousarray(batch, dtype=np.uint8)
        return batch if self.aligner is None else self.aligner(batch)

    def score(self, batch: np.ndarray, radius: float | None = None) -> np.ndarray:
        """``distance - R**2`` per image (> 0: fail); ``radius`` overrides the model's."""
        r = self.radius if radius is None else radius
        return self.distances(batch) - r**2

    def score_file(self, path: str | Path, radius: float | None = None) -> tuple[float, float]:
        """Decode, preprocess and score one file; returns ``(distance, score)``."""
        image = load_image(path, self.preprocess)
        dist = float(self.distances(image[None])[0])
        r = self.radius if radius is None else radius
        return dist, dist - r**2


def _preprocess_fields(text: str) -> dict[str, Any]:
    try:
        fields = json.loads(text)
        if fields.get("roi") is not None:
            fields["roi"] = tuple(fields["roi"])
        return dict(fields)
    except (ValueError, AttributeError) as exc:
        raise ConfigError(f"preprocessing metadata is not a JSON object ({exc})") from None


def check_pair(directory: str | Path, scorer: OnnxScorer) -> None:
    """Refuse an ONNX file that does not belong to the model.json beside it (their fingerprints differ).

    Both carry a hash of the weights, radius and centre; a refit without
    export, or a file copied from another model, is caught here.

    Raises:
        ModelError: the fingerprints differ, or model.json is unreadable.
    """
    json_path = Path(directory) / MODEL_JSON
    if not json_path.is_file():
        return
    try:
        theirs = str(json.loads(json_path.read_text()).get("fingerprint", ""))
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelError(f"{json_path}: unreadable ({exc})") from None
    mine = scorer.metadata.get("fingerprint", "")
    if (mine or theirs) and mine != theirs:
        raise ModelError(f"{scorer.path}: does not belong to {json_path} (the model was refitted or changed after "
                         f"export); run `inspect-svdd export {directory}` or use --backend torch")
