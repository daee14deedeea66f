"""Opening a model for scoring: ONNX Runtime when the model has its ONNX file, else PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from inspect_svdd.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from inspect_svdd.deploy.scoring import Backend

BACKENDS = ("auto", "onnx", "torch")


def open_backend(model: Path, backend: str = "auto", device: str = "auto", threads: int | None = None) -> Backend:
    """Pick and open a backend for ``model`` (a model directory, or its ONNX file).

    ``auto`` is ONNX Runtime when the ONNX file is there, else PyTorch (the full
    install). ``device`` is ONNX Runtime's; ``threads`` is ONNX Runtime's
    intra-op thread count, or PyTorch's CPU threads with the torch backend.

    Raises:
        ModelError: no such model, or no ONNX file for the onnx backend.
        ConfigError: a device the torch backend does not run on.
    """
    from inspect_svdd.layout import ONNX_FILE

    onnx_path = model if model.suffix == ".onnx" else model / ONNX_FILE
    if backend == "auto":
        backend = "onnx" if onnx_path.is_file() else "torch"
    if backend == "onnx":
        from inspect_svdd.deploy.runtime import OnnxScorer, check_pair

        if not model.exists():
            raise ModelError(f"{model}: model directory does not exist")
        if not onnx_path.is_file():
            raise ModelError(f"{onnx_path}: no ONNX file; run `inspect-svdd export {model}` or use --backend torch")
        scorer = OnnxScorer(onnx_path, device=device, threads=threads)
        check_pair(onnx_path.parent, scorer)
        return scorer
    if model.suffix == ".onnx":
        raise ModelError(f"{model}: the torch backend needs the model directory, not the ONNX file")
    if device == "cuda":
        raise ConfigError("--device cuda is for the onnx backend")
    from inspect_svdd.deploy.torch_backend import TorchBackend

    return TorchBackend.load(model, threads)
