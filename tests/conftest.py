"""Shared fixtures: tiny synthetic part images and one small fitted model per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
DATASETS = REPO.parent / "shared" / "datasets"


class Interrupted(Exception):
    """Stands for a kill right after a checkpoint was written."""


@contextmanager
def killed_after_checkpoint(monkeypatch: pytest.MonkeyPatch, stage: str, epoch: int) -> Iterator[None]:
    """Within the block, a fit dies right after it saves the checkpoint of ``stage`` at ``epoch`` (the block expects it)."""
    from inspect_svdd.model.checkpoint import Checkpoint

    original = Checkpoint.save

    def save_then_die(self: Checkpoint, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        if args[:2] == (stage, epoch):
            raise Interrupted

    with monkeypatch.context() as patch:
        patch.setattr(Checkpoint, "save", save_then_die)
        with pytest.raises(Interrupted):
            yield


def draw_part(seed: int, scratch: bool = False, size: int = 128) -> np.ndarray:
    """A gray machined disc with a bolt hole on a light background (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 190, np.uint8)
    c = size // 2 + int(rng.integers(-2, 3))
    cv2.circle(img, (c, c), size // 3, (90, 95, 100), -1, cv2.LINE_AA)
    cv2.circle(img, (c, c), size // 10, (30, 30, 30), -1, cv2.LINE_AA)
    if scratch:
        cv2.line(img, (c - 30, c - 20), (c + 25, c + 30), (240, 240, 240), 3, cv2.LINE_AA)
    noise = rng.normal(0, 2, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def write_rgb(path: Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 image with OpenCV (which expects BGR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="session")
def golden_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve good parts."""
    root = tmp_path_factory.mktemp("golden")
    for i in range(12):
        write_rgb(root / f"part_{i:02d}.png", draw_part(i))
    return root


@pytest.fixture(scope="session")
def incoming_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good and scratched parts in MVTec-style folders, plus one corrupt file."""
    root = tmp_path_factory.mktemp("incoming")
    for i in range(3):
        write_rgb(root / "good" / f"good_{i}.png", draw_part(100 + i))
        write_rgb(root / "scratch" / f"scratch_{i}.png", draw_part(200 + i, scratch=True))
    (root / "scratch" / "zz_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    return root


FAST_FIT = ["--ae-min-steps", "0", "--min-steps", "0", "--ae-epochs", "2", "--epochs", "2",
            "--augment-factor", "1", "--batch-size", "8", "-q"]
FAST_PRETRAIN = ["--ae-min-steps", "0", "--ae-epochs", "2", "--augment-factor", "1", "--batch-size", "8",
                 "-q"]  # pretrain takes the pretraining options only


@pytest.fixture(scope="session")
def model_dir(golden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model fitted through the CLI in a few seconds (2 + 2 epochs), with model.onnx."""
    from click.testing import CliRunner

    from inspect_svdd.cli import main

    out = tmp_path_factory.mktemp("model") / "model"
    result = CliRunner().invoke(main, ["fit", str(golden_dir), "-o", str(out), *FAST_FIT])
    assert result.exit_code == 0, result.output
    return out


def assert_same_verdicts(rows_a: list[dict[str, str]], rows_b: list[dict[str, str]], margin: float = 1e-4) -> None:
    """Both backends give each image the same verdict, except where its score lies within ``margin`` (relative to
    the larger of its statistic and R^2) of the boundary: there a CPU's other float path may tip it either way."""
    assert [r["path"] for r in rows_a] == [r["path"] for r in rows_b]
    for a, b in zip(rows_a, rows_b, strict=True):
        if a["verdict"] == "error" or b["verdict"] == "error":
            assert a["verdict"] == b["verdict"], a["path"]
            continue
        scale = max(float(a["radius"]) ** 2, abs(float(a["distance"])))
        if abs(float(a["score"])) > margin * scale:
            assert a["verdict"] == b["verdict"], a["path"]
