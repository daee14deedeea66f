"""ONNX export: encoder + centre + radius in one self-describing graph.

Graph contract (also written to the file's metadata):

* input ``images``: uint8, shape (N, S, S, C), channels last, RGB order for
  C = 3, exactly what :func:`inspect_svdd.io.preprocess.preprocess` returns;
  normalisation (and, for a tiled model, the cut into tiles and the choice of
  the worst tile) happens inside the graph.
* outputs ``distance`` (the scoring rule's statistic: squared distance to the
  centre, squared Mahalanobis distance or mean squared k-NN distance; for the
  local model, the largest cell of its anomaly map) and ``score``
  (distance - R**2; > 0 means fail), float32, shape (N,); the local model
  adds ``map`` (N, S/4, S/4), its calibrated anomaly map, whose largest cell is
  ``distance``.

After export the graph is checked with ``onnx.checker`` and its scores are
compared with PyTorch's on real images: each difference is measured against
the larger of the image's own statistic and R**2 (float error grows with the
number), so a CPU's other float path does not fail a fit, and the verdicts
must agree wherever a score is not within that tolerance of the boundary. A
disagreement raises ExportError.
"""

from __future__ import annotations

import base64
import json
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from inspect_svdd import __version__
from inspect_svdd.deploy.drift import held_out_reference
from inspect_svdd.errors import ExportError, first_line
from inspect_svdd.io.images import encode_png
from inspect_svdd.io.preprocess import INPUT_CONTRACT
from inspect_svdd.layout import FORMAT_VERSION, META_PREFIX, ONNX_FILE
from inspect_svdd.model.detector import DeepSVDD
from inspect_svdd.model.nets import Encoder, to_tiles, worst_tile

OPSET = 18
PARITY_TOL = 1e-3  # largest |score_onnx - score_torch| accepted, relative to max(statistic, R**2)


class ScoringGraph(nn.Module):
    """uint8 NHWC images -> (statistic, score); what the ONNX file computes."""

    radius_sq: torch.Tensor

    def __init__(self, encoder: Encoder, head: nn.Module, radius: float, tile: int, tiles: int = 1,
                 kind: str = "embedding") -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.tile, self.tiles, self.kind = tile, tiles, kind
        self.register_buffer("radius_sq", torch.tensor(radius**2, dtype=torch.float32))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Statistic and score per image (its worst tile's, for a tiled model); and the map of a local model."""
        if self.dense:
            anomaly_map = self.head.map(self.encoder(images))  # type: ignore[operator]
            dist = anomaly_map.flatten(1).amax(dim=1)
            return dist, dist - self.radius_sq, anomaly_map
        dist = worst_tile(self.head(self.encoder.features_of(to_tiles(images, self.tile), self.kind)), self.tiles)
        return dist, dist - self.radius_sq

    @property
    def dense(self) -> bool:
        """Whether the graph also outputs an anomaly map (the local model)."""
        return hasattr(self.head, "map")


def metadata(det: DeepSVDD, record: dict[str, Any]) -> dict[str, str]:
    """Deployment facts stored in the ONNX file's metadata_props (all strings)."""
    encoder, _, radius = det._fitted()
    p = det.config.preprocess
    facts = {
        "format_version": str(FORMAT_VERSION),
        "version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "radius": repr(float(radius)),
        "image_size": str(p.input_size),
        "tile_size": str(p.image_size),
        "tiles": str(p.tiles),
        "channels": str(p.channels),
        "channel_order": "gray" if p.channels == 1 else "RGB",
        "resize": p.resize,
        "aspect": "keep" if p.aspect == "keep" else "stretch",
        "roi": "" if p.roi is None else ",".join(map(str, p.roi)),
        "normalisation": json.dumps(encoder.adapter.describe()),
        "preprocess": json.dumps(det.config.to_dict()["preprocess"]),
        "input_contract": INPUT_CONTRACT,
        "objective": det.config.train.objective,
        "model_kind": det.config.local.model_kind,
        "score_rule": det.config.score.rule,
        "score_features": det.config.score.feature_kind,
        "score_members": ",".join(det.config.score.members),
        "selection": json.dumps({"chosen": det.selection_.get("chosen"),
                                 "candidates": {r["candidate"]: r["escape"] for r in det.selection_.get("candidates", [])}}),
        "radius_rule": json.dumps(det.holdout_.get("radius", {})),
        "alignment": json.dumps(det.alignment_),  # with reference_png: the registration every input goes through
        "train_files_sha256": str(record.get("training", {}).get("files_sha256", "")),
        "seed": str(det.config.train.seed),
        "fingerprint": str(record.get("fingerprint", "")),
        "config": json.dumps(det.config.to_dict()),
        "holdout": json.dumps({k: v for k, v in det.holdout_.items() if k != "distances"}),
        "training": json.dumps({k: v for k, v in record.get("training", {}).items() if k != "skipped"}),
        "versions": json.dumps(record.get("versions", {})),
    }
    drift = held_out_reference(det.holdout_.get("distances", []))
    if drift is not None:  # the drift alarm's reference: the held-out golden images' 90th percentile distance
        facts["drift_reference"] = repr(drift)
    if det.reference_ is not None:  # the nominal part occlusion heat maps hide regions with, for ONNX-only lines
        facts["reference_png"] = base64.b64encode(encode_png(det.reference_)).decode("ascii")
    return {META_PREFIX + k: v for k, v in facts.items()}


def export_onnx(det: DeepSVDD, path: str | Path, record: dict[str, Any], check_images: np.ndarray) -> float:
    """Write ``det`` as an ONNX file; return the parity error on ``check_images``.

    Raises:
        ExportError: export, checker or parity failed (an existing file at
            ``path`` is then left as it was).
    """
    import onnx

    encoder, head, radius = det._fitted()
    path = Path(path)
    p = det.config.preprocess
    graph = ScoringGraph(encoder, head, radius, p.image_size, p.tiles, det.config.score.feature_kind).eval()
    example = torch.zeros(2, *p.input_shape, p.channels, dtype=torch.uint8)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                graph,
                (example,),
                input_names=["images"],
                output_names=["distance", "score", "map"] if graph.dense else ["distance", "score"],
                opset_version=OPSET,
                dynamo=True,
                dynamic_shapes={"images": {0: torch.export.Dim("batch")}},
                external_data=False,
                verbose=False,
            )
    except Exception as exc:
        raise ExportError(f"{path}: ONNX export failed ({type(exc).__name__}: {first_line(exc)})") from None
    finally:
        encoder.eval()  # export may leave the wrapped encoder in training mode
    if program is None:
        raise ExportError(f"{path}: ONNX export returned nothing")
    proto = program.model_proto
    kind = "local anomaly-map" if graph.dense else "Deep SVDD"
    proto.doc_string = f"inspect-svdd {kind} scorer. " + INPUT_CONTRACT
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
    try:  # check first, then swap: a failed export leaves the last good file in place
        err = check_parity(det, tmp, check_images)
    except ExportError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(str(exc).replace(str(tmp), str(path))) from None
    tmp.replace(path)
    return err


def check_parity(det: DeepSVDD, onnx_path: str | Path, images: np.ndarray, tol: float = PARITY_TOL) -> float:
    """Compare ONNX Runtime with PyTorch on ``images``; return the largest relative score difference.

    Float error grows with the number itself: a defect scored at 20 R^2
    carries a larger absolute error than a part near the boundary, so each
    image's difference is measured against the larger of its own statistic
    and R^2 (what the verdict compares with). A CPU's other float path moves
    that by ~1e-5, a wrong graph by far more. Verdicts must also agree on
    every image whose score is further than ``tol`` of that scale from the
    boundary.

    Raises:
        ExportError: the difference exceeds ``tol`` or a verdict differs.
    """
    from inspect_svdd.deploy.runtime import OnnxScorer

    r2 = max((det.radius_ or 0.0) ** 2, 1e-12)
    torch_scores = det.score(images).astype(np.float64)
    scorer = OnnxScorer(onnx_path, device="cpu")
    onnx_scores = scorer.score(images).astype(np.float64)
    scale = np.maximum(np.abs(torch_scores + r2), r2)  # the statistic itself, or R^2 near the boundary
    relative = np.abs(onnx_scores - torch_scores) / scale
    err = float(np.max(relative)) if len(relative) else 0.0
    clear = np.abs(torch_scores) > tol * scale
    flipped = int(np.sum((onnx_scores[clear] > 0) != (torch_scores[clear] > 0)))
    if not err <= tol or flipped:
        raise ExportError(f"{onnx_path}: ONNX Runtime and PyTorch disagree (largest score difference {err:.2e} of the "
                          f"score's own size, limit {tol:.0e}; {flipped} verdict(s) differ)")
    if getattr(scorer, "has_map", False):  # the local model's map: each image's cells against the larger of its peak and R^2
        torch_maps, onnx_maps = det.maps(images).astype(np.float64), scorer.maps(images)  # type: ignore[attr-defined]
        peak = np.maximum(torch_maps.reshape(len(images), -1).max(axis=1), r2)[:, None, None]
        map_err = float(np.max(np.abs(onnx_maps - torch_maps) / peak)) if len(images) else 0.0
        if not map_err <= tol:
            raise ExportError(f"{onnx_path}: ONNX Runtime and PyTorch anomaly maps disagree (largest cell difference "
                              f"{map_err:.2e} of the image's peak, limit {tol:.0e})")
        err = max(err, map_err)
    return err


def write_model(det: DeepSVDD, directory: str | Path, training: dict[str, Any] | None = None,
                extra: dict[str, Any] | None = None,
                check_images: np.ndarray | None = None) -> tuple[dict[str, Any], float | None]:
    """Save ``det`` and, with ``check_images``, its ONNX export: all of it, or nothing.

    Weights, model.json and model.onnx are written aside and swapped in only
    once the export has passed its checks, so a failed export (or a kill)
    leaves the folder exactly as it was. Returns the record and the parity
    error (None without an export).

    Raises:
        ExportError: the export failed; nothing in ``directory`` changed.
    """
    from inspect_svdd.model.artifact import STAGED, commit_staged, discard_staged, save_model

    directory = Path(directory)
    record = save_model(det, directory, training, extra, commit=False)
    err = None
    try:
        if check_images is not None:
            err = export_onnx(det, directory / (ONNX_FILE + STAGED), record, check_images)
    except BaseException as exc:
        discard_staged(directory)
        if isinstance(exc, ExportError):
            raise ExportError(str(exc).replace(ONNX_FILE + STAGED, ONNX_FILE)) from None
        raise
    commit_staged(directory)
    return record, err
