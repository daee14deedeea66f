"""Model directories: one folder, one format version, nothing pickled.

``model/`` holds ``encoder.pt`` and ``head.pt`` (state_dicts of the encoder and
the scoring rule, read with ``torch.load(weights_only=True)``), ``model.json`` (full config, centre, radius,
normalisation, training history, held-out facts, seed, training file list hash
and library versions) and, once exported, ``model.onnx`` carrying the same facts
in its metadata. A pretrained autoencoder is the same idea: ``autoencoder.pt``
plus ``autoencoder.json``.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from inspect_svdd import __version__
from inspect_svdd.config import FitConfig
from inspect_svdd.errors import InspectError, ModelError, first_line
from inspect_svdd.io.align import aligner_from
from inspect_svdd.io.images import decode_image, encode_png
from inspect_svdd.layout import (
    AE_JSON,
    AE_WEIGHTS,
    ENCODER_WEIGHTS,
    FORMAT_VERSION,
    HEAD_WEIGHTS,
    MODEL_JSON,
    ONNX_FILE,
    REFERENCE_IMAGE,
    read_json,
)
from inspect_svdd.model.detector import DeepSVDD
from inspect_svdd.model.heads import ScoreHead, make_head
from inspect_svdd.model.local import detector_for
from inspect_svdd.model.local_net import LocalNet, MapHead
from inspect_svdd.model.nets import AutoEncoder, Encoder


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model depends on (for the record)."""
    out = {"python": platform.python_version(), "inspect-svdd": __version__}
    for name in ("torch", "numpy", "opencv-python-headless", "albumentations", "onnx", "onnxruntime-gpu", "onnxruntime"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def files_digest(files: Sequence[str | Path], root: str | Path | None = None) -> str:
    """sha256 of the sorted training file list (relative to ``root``), to trace a model to its data."""
    names = sorted(Path(f).relative_to(root).as_posix() if root else Path(f).as_posix() for f in files)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def _header(kind: str, det: DeepSVDD) -> dict[str, Any]:
    return {
        "kind": kind,
        "format_version": FORMAT_VERSION,
        "inspect_svdd_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": det.config.to_dict(),
        "seed": det.config.train.seed,
        "versions": library_versions(),
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def fingerprint(directory: Path, radius: float, center: Sequence[float], suffix: str = "") -> str:
    """sha256 of the weights files, radius and centre: binds model.json, the weights and model.onnx."""
    digest = hashlib.sha256()
    for name in (ENCODER_WEIGHTS, HEAD_WEIGHTS):
        digest.update((directory / (name + suffix)).read_bytes())
    digest.update(json.dumps([repr(float(radius)), [repr(float(c)) for c in center]]).encode())
    return digest.hexdigest()


STAGED = ".new"  # suffix of a file written aside, swapped in only when every file of the model is ready
MODEL_FILES = (ENCODER_WEIGHTS, HEAD_WEIGHTS, REFERENCE_IMAGE, ONNX_FILE, MODEL_JSON)  # swap order: model.json last


def save_model(det: DeepSVDD, directory: str | Path, training: dict[str, Any] | None = None,
               extra: dict[str, Any] | None = None, commit: bool = True) -> dict[str, Any]:
    """Write a fitted detector to ``directory`` (created if missing); return the model.json record.

    ``extra`` adds facts to the record (``calibrate``: how the radius was re-set).

    Every file is first written aside (``<name>.new``) and swapped in at the
    end, so a kill or an error leaves the folder as it was. With ``commit``
    False the files stay aside: :func:`commit_staged` swaps them in (after,
    say, the ONNX export was checked) and :func:`discard_staged` drops them.
    A ``model.onnx`` left by an earlier model no longer belongs to the new one
    and is removed at the swap (``export`` writes the new one).
    """
    encoder, head, radius = det._fitted()
    assert det.center_ is not None  # set with the head by fit or load
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    discard_staged(directory)
    staged = {name: directory / (name + STAGED) for name in (ENCODER_WEIGHTS, HEAD_WEIGHTS, MODEL_JSON)}
    torch.save(encoder.state_dict(), staged[ENCODER_WEIGHTS])
    torch.save(head.state_dict(), staged[HEAD_WEIGHTS])
    center = [float(v) for v in det.center_]
    if det.reference_ is not None:
        (directory / (REFERENCE_IMAGE + STAGED)).write_bytes(encode_png(det.reference_))
    data = _header("model", det) | {
        "fingerprint": fingerprint(directory, radius, center, suffix=STAGED),
        "center": center,
        "radius": radius,
        "score_rule": _score_record(det, head),
        "selection": det.selection_,
        "alignment": det.alignment_,
        "screening": det.screening_,
        "schedule": det.schedule_,
        "normalisation": encoder.adapter.describe(),
        "holdout": det.holdout_,
        "training": training or {},
        "history": det.history_,
        **(extra or {}),
    }
    staged[MODEL_JSON].write_text(json.dumps(data, indent=2) + "\n")
    if commit:
        commit_staged(directory)
    return data


def _score_record(det: DeepSVDD, head: torch.nn.Module) -> dict[str, Any]:
    if det.config.is_local:
        return {"rule": "local-map", "calibration": det.config.local.map_calibration}
    return {"rule": det.config.score.rule, "bank_size": len(getattr(head, "bank", ()))}


def commit_staged(directory: Path) -> None:
    """Swap the files written aside into place; a model without a staged ONNX file loses its old one."""
    if not (directory / (ONNX_FILE + STAGED)).is_file():
        (directory / ONNX_FILE).unlink(missing_ok=True)
    if not (directory / (REFERENCE_IMAGE + STAGED)).is_file():
        (directory / REFERENCE_IMAGE).unlink(missing_ok=True)
    for name in MODEL_FILES:
        staged = directory / (name + STAGED)
        if staged.is_file():
            staged.replace(directory / name)


def discard_staged(directory: Path) -> None:
    """Remove files written aside by an unfinished save."""
    for name in MODEL_FILES:
        (directory / (name + STAGED)).unlink(missing_ok=True)


def save_pretrained(det: DeepSVDD, directory: str | Path, training: dict[str, Any] | None = None) -> Path:
    """Write the pretrained autoencoder of ``det`` to ``directory``."""
    if det.autoencoder_ is None:
        raise ModelError("nothing to save: the autoencoder is not pretrained")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(det.autoencoder_.state_dict(), directory / AE_WEIGHTS)
    data = _header("autoencoder", det) | {"training": training or {}, "history": det.history_}
    _write_json(directory / AE_JSON, data)
    return directory


def _load_state(module: torch.nn.Module, path: Path, defaults: dict[str, torch.Tensor] | None = None) -> None:
    if not path.is_file():
        raise ModelError(f"{path}: weights file missing")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
        module.load_state_dict({**(defaults or {}), **state}, strict=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError...
        raise ModelError(f"{path}: weights do not load ({first_line(exc)})") from None
    module.eval()


# What a local model saved before each setting existed was trained with: the golden statistics as input (before
# --local-input), its map to the centre c (before --map-reference), no dilated blocks (before --local-context),
# Deep SAD's loss (before --local-loss), no pixels in the per-place reference (before --map-pixels), no large
# regions (before --local-regions).
LOCAL_BEFORE_SETTINGS: dict[str, Any] = {"local_input": "golden", "map_reference": "centre", "local_context": 0,
                                         "local_loss": "sad", "map_pixels": False, "local_regions": 0.0}


def _config(data: dict[str, Any], path: Path) -> FitConfig:
    try:
        config = dict(data["config"])
        if "local" in config:  # a local model saved before a setting was trained with what there was then
            config["local"] = {**LOCAL_BEFORE_SETTINGS, **config["local"]}
        return FitConfig.from_dict(config)
    except (KeyError, TypeError, InspectError) as exc:
        raise ModelError(f"{path}: invalid config ({exc})") from None


def load_model(directory: str | Path) -> tuple[DeepSVDD, dict[str, Any]]:
    """Load a fitted detector and its JSON record from ``directory``."""
    directory = Path(directory)
    data = read_json(directory, MODEL_JSON, "model")
    cfg = _config(data, directory / MODEL_JSON)
    det = detector_for(cfg)
    encoder, head = _modules(cfg, data)
    _load_state(encoder, directory / ENCODER_WEIGHTS)
    try:
        center = torch.tensor(data["center"], dtype=torch.float32)
        radius = float(data["radius"])
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{directory / MODEL_JSON}: centre or radius missing or invalid") from None
    dim = cfg.local.local_dim if cfg.is_local else cfg.net.rep_dim
    if center.shape != (dim,):
        raise ModelError(f"{directory / MODEL_JSON}: centre has {center.numel()} values, expected {dim}")
    defaults = {"scale": head.scale} if isinstance(head, ScoreHead) else None  # format 2 had no scale
    _load_state(head, directory / HEAD_WEIGHTS, defaults=defaults)
    recorded = data.get("fingerprint")
    if recorded and recorded != fingerprint(directory, radius, [float(c) for c in data["center"]]):
        raise ModelError(f"{directory}: the weights files do not belong to {MODEL_JSON} (fingerprint differs: copied "
                         "from another model, or a save was interrupted); refit or restore the whole folder")
    det.encoder_, det.center_, det.head_, det.radius_ = encoder, center, head, radius  # type: ignore[assignment]
    det.history_ = list(data.get("history", []))
    det.holdout_ = dict(data.get("holdout", {}))
    det.selection_ = dict(data.get("selection") or {})
    det.schedule_ = dict(data.get("schedule") or {})
    det.screening_ = dict(data.get("screening") or {})
    if (directory / REFERENCE_IMAGE).is_file():  # models before heat maps have none
        det.reference_ = decode_image(directory / REFERENCE_IMAGE)
    det.alignment_ = dict(data.get("alignment") or {})  # models before registration have none: off
    det.aligner_ = aligner_from(det.alignment_, det.reference_, f"{directory}")
    return det, data


def _modules(cfg: FitConfig, data: dict[str, Any]) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Fresh (encoder, head) of the saved model's kind and shape, for its weights to load into."""
    p = cfg.preprocess
    if cfg.is_local:
        net = LocalNet(cfg.local, p.channels, p.input_shape, cfg.net.leaky_slope)
        return net, MapHead(net.grids, cfg.local.map_smoothing, cfg.local.map_calibration)
    encoder = Encoder(cfg.net, p.channels, p.image_size)
    head = make_head(cfg.score, encoder.feature_dim("stages"), cfg.net.rep_dim,
                     int(data.get("score_rule", {}).get("bank_size", 0)))
    return encoder, head


def load_pretrained(directory: str | Path, config: FitConfig) -> tuple[AutoEncoder, dict[str, Any]]:
    """Load a pretrained autoencoder and check it fits ``config``'s input and network."""
    directory = Path(directory)
    data = read_json(directory, AE_JSON, "autoencoder")
    saved = _config(data, directory / AE_JSON)
    if saved.preprocess != config.preprocess or saved.net != config.net:
        raise ModelError(
            f"{directory}: pretrained with other input or network settings "
            f"({saved.preprocess}, {saved.net}) than this fit ({config.preprocess}, {config.net})"
        )
    ae = AutoEncoder(saved.net, saved.preprocess.channels, saved.preprocess.image_size)
    _load_state(ae, directory / AE_WEIGHTS)
    return ae, data
