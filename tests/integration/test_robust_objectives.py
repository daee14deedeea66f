"""RCAE pretraining and the OC-NN objective through the CLI: the model folder, ONNX parity, both backends, runtime."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from inspect_svdd.cli import main
from tests.conftest import FAST_FIT, assert_same_verdicts, draw_part


@pytest.fixture(scope="module")
def ocnn_model(golden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ocnn") / "model"
    args = ["fit", str(golden_dir), "-o", str(out), "--objective", "ocnn", "--pretrain", "rcae", "--image-size", "64",
            "--nu", "0.1", *FAST_FIT]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "parity" in result.output
    return out


def test_the_model_records_ocnn_and_rcae(ocnn_model: Path) -> None:
    record = json.loads((ocnn_model / "model.json").read_text())
    assert record["config"]["train"]["objective"] == "ocnn"
    assert record["config"]["train"]["ae_kind"] == "rcae"
    assert record["score_rule"]["rule"] == "ocnn"
    assert record["radius"] == 1.0 and record["holdout"]["radius"]["rule"] == "ocnn"
    info = CliRunner().invoke(main, ["info", str(ocnn_model)])
    assert info.exit_code == 0 and "ocnn" in info.output


def test_onnx_runtime_and_torch_agree_on_ocnn(ocnn_model: Path, incoming_dir: Path) -> None:
    from inspect_svdd.deploy.runtime import OnnxScorer
    from inspect_svdd.model.artifact import load_model

    rows = {}
    for backend in ("torch", "onnx"):
        result = CliRunner().invoke(main, ["score", str(incoming_dir), "-m", str(ocnn_model), "--backend", backend,
                                           "--csv", "-", "-q"])
        rows[backend] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows["onnx"]) == 7
    assert_same_verdicts(rows["torch"], rows["onnx"])
    det, _ = load_model(ocnn_model)
    images = np.stack([draw_part(500 + i, size=64) for i in range(4)])
    stats = OnnxScorer(ocnn_model / "model.onnx", device="cpu").distances(images)
    assert stats == pytest.approx(det.distances(images), rel=1e-4)
    assert stats.min() > 0 and stats.max() > stats.min()
