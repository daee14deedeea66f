"""Names and version of the model artifact, and reading its JSON files; torch-free so the runtime and CLI can use them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inspect_svdd import __version__
from inspect_svdd.errors import ModelError

FORMAT_VERSION = 3  # 2: scoring rule (head.pt), radius rule, Deep SAD settings; 3: tiling, hybrid objective
READABLE_FORMATS = (2, 3)  # a format-2 model is a format-3 one without tiling or hybrid objective (defaults apply)
MODEL_JSON = "model.json"
ENCODER_WEIGHTS = "encoder.pt"
HEAD_WEIGHTS = "head.pt"
CHECKPOINT_FILE = "checkpoint.pt"  # a fit in progress; removed once the model is saved
REFERENCE_IMAGE = "reference.png"  # the golden images' mean input, for occlusion heat maps
AE_JSON = "autoencoder.json"
AE_WEIGHTS = "autoencoder.pt"
ONNX_FILE = "model.onnx"
META_PREFIX = "inspect_svdd."


def read_json(directory: str | Path, name: str, kind: str) -> dict[str, Any]:
    """Read and version-check a model or autoencoder JSON file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelError(f"{directory}: model directory does not exist")
    path = directory / name
    if not path.is_file():
        raise ModelError(f"{path}: missing; {directory} is not an inspect-svdd {kind} directory")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise ModelError(f"{path}: not an inspect-svdd {kind} file")
    version = data.get("format_version")
    if version not in READABLE_FORMATS:
        raise ModelError(
            f"{path}: model format version {version} (made by inspect-svdd {data.get('inspect_svdd_version', '?')}) "
            f"is not supported by this inspect-svdd {__version__} (format {FORMAT_VERSION}); refit the model"
        )
    return data
