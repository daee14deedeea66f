"""ONNX export: encoder + centre + radius in one self-describing graph.

Graph contract (also written to the file's metadata):

* input ``images``: uint8, shape (N, S, S, C), channels last, RGB order for
  C = 3, exactly what :func:`inspect_svdd.preprocess.preprocess` returns;
  normalisation happens inside the graph.
* outputs ``distance`` (squared distance to the centre) and ``score``
  (distance - R**2; > 0 means fail), float32, shape (N,).

After export the graph is checked with ``onnx.checker`` and its scores are
compared with PyTorch's on real images; a disagreement raises ExportError.
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from inspect_svdd import __version__
from inspect_svdd.detector import DeepSVDD
from inspect_svdd.errors import ExportError
from inspect_svdd.layout import FORMAT_VERSION, META_PREFIX
from inspect_svdd.preprocess import INPUT_CONTRACT

OPSET = 18
PARITY_RTOL = 1e-4


class ScoringGraph(nn.Module):
    """uint8 NHWC images -> (squared distance, score); what the ONNX file computes."""

    center: torch.Tensor
    radius_sq: torch.Tensor

    def __init__(self, encoder: nn.Module, center: torch.Tensor, radius: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("center", center.detach().clone().float())
        self.register_buffer("radius_sq", torch.tensor(radius**2, dtype=torch.float32))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distance and score per image."""
        dist = ((self.encoder(images) - self.center) ** 2).sum(dim=1)
        return dist, dist - self.radius_sq


def metadata(det: DeepSVDD, record: dict[str, Any]) -> dict[str, str]:
    """Deployment facts stored in the ONNX file's metadata_props (all strings)."""
    encoder, _, radius = det._fitted()
    p = det.config.preprocess
    facts = {
        "format_version": str(FORMAT_VERSION),
        "version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "radius": repr(float(radius)),
        "image_size": str(p.image_size),
        "channels": str(p.channels),
        "channel_order": "gray" if p.channels == 1 else "RGB",
        "resize": p.resize,
        "roi": "" if p.roi is None else ",".join(map(str, p.roi)),
        "normalisation": json.dumps(encoder.adapter.describe()),
        "preprocess": json.dumps(det.config.to_dict()["preprocess"]),
        "input_contract": INPUT_CONTRACT,
        "objective": det.config.train.objective,
        "train_files_sha256": str(record.get("training", {}).get("files_sha256", "")),
        "seed": str(det.config.train.seed),
    }
    return {META_PREFIX + k: v for k, v in facts.items()}


def export_onnx(det: DeepSVDD, path: str | Path, record: dict[str, Any], check_images: np.ndarray) -> float:
    """Write ``det`` as an ONNX file; return the parity error on ``check_images``.

    Raises:
        ExportError: export, checker or parity failed (the file is then removed).
    """
    import onnx

    encoder, center, radius = det._fitted()
    path = Path(path)
    graph = ScoringGraph(encoder, center, radius).eval()
    p = det.config.preprocess
    example = torch.zeros(2, p.image_size, p.image_size, p.channels, dtype=torch.uint8)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                graph,
                (example,),
                input_names=["images"],
                output_names=["distance", "score"],
                opset_version=OPSET,
                dynamo=True,
                dynamic_shapes={"images": {0: torch.export.Dim("batch")}},
                external_data=False,
                verbose=False,
            )
    except Exception as exc:
        raise ExportError(f"{path}: ONNX export failed ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    finally:
        encoder.eval()  # export may leave the wrapped encoder in training mode
    if program is None:
        raise ExportError(f"{path}: ONNX export returned nothing")
    proto = program.model_proto
    proto.doc_string = "inspect-svdd Deep SVDD scorer. " + INPUT_CONTRACT
    for key, value in metadata(det, record).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ExportError(f"{path}: exported graph fails onnx.checker ({exc})") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".onnx.tmp")
    onnx.save_model(proto, str(tmp))
    tmp.replace(path)
    err = parity_error(det, path, check_images)
    if not err <= PARITY_RTOL:
        path.unlink(missing_ok=True)
        raise ExportError(f"{path}: ONNX Runtime and PyTorch disagree (max relative score difference {err:.2e} > {PARITY_RTOL})")
    return err


def parity_error(det: DeepSVDD, onnx_path: str | Path, images: np.ndarray) -> float:
    """Max of ``|score_onnx - score_torch| / max(|score_torch|, R**2)`` over ``images``.

    The denominator keeps the measure meaningful for scores near zero, where
    a plain relative difference would divide by ~0.
    """
    from inspect_svdd.runtime import OnnxScorer

    torch_scores = det.score(images).astype(np.float64)
    onnx_scores = OnnxScorer(onnx_path, device="cpu").score(images).astype(np.float64)
    r2 = (det.radius_ or 0.0) ** 2
    denom = np.maximum(np.abs(torch_scores), max(r2, 1e-12))
    return float(np.max(np.abs(onnx_scores - torch_scores) / denom))
