"""Scoring backend that runs a saved model in PyTorch (the ONNX Runtime one is :mod:`inspect_svdd.deploy.runtime`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from inspect_svdd.deploy.drift import held_out_reference
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.detector import DeepSVDD


class TorchBackend:
    """Scoring backend running a saved model in PyTorch (see :mod:`inspect_svdd.deploy.scoring`)."""

    name = "torch"
    provider = "PyTorch CPU"

    def __init__(self, det: DeepSVDD, golden_format: dict[str, Any] | None = None) -> None:
        self.det = det
        self.preprocess = det.config.preprocess
        self.radius = det._fitted()[2]
        self.reference = det.reference_  # the nominal part for occlusion heat maps (None: models before them)
        self.golden_format = golden_format  # size range and channels of the golden images, when recorded
        self.drift_reference = held_out_reference(det.holdout_.get("distances", []))
        self.has_map = det.config.is_local  # the local model's anomaly map
        self.aligner = det.aligner_  # registers inputs inside det; heat maps are moved back with it

    def maps(self, batch: np.ndarray) -> np.ndarray:
        """Anomaly maps of a uint8 NHWC batch (local models only), as the ONNX ``map`` output."""
        return self.det.maps(batch, batch_size=len(batch)).astype(np.float64)  # type: ignore[attr-defined]

    @classmethod
    def load(cls, directory: str | Path, threads: int | None = None) -> TorchBackend:
        """Open a model directory; ``threads`` sets PyTorch's CPU threads (None: its own choice)."""
        if threads is not None:
            torch.set_num_threads(threads)
        det, record = load_model(directory)
        return cls(det, record.get("training", {}).get("golden_format"))

    def distances(self, batch: np.ndarray) -> np.ndarray:
        """Squared distances of a uint8 NHWC batch."""
        return self.det.distances(batch, batch_size=len(batch)).astype(np.float64)
