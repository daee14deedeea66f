"""Registration in the product: fit decides on it, both backends apply the same one, and a saved model carries it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from inspect_svdd.cli import main
from inspect_svdd.deploy.runtime import OnnxScorer
from inspect_svdd.deploy.torch_backend import TorchBackend
from inspect_svdd.io.align import shift
from inspect_svdd.io.preprocess import preprocess
from tests.conftest import draw_part, write_rgb


def _parts(scorer: OnnxScorer | TorchBackend, moves: list[tuple[float, float]]) -> np.ndarray:
    """One good part (not a golden one) moved by each ``(dx, dy)``, as the network's uint8 input."""
    part = preprocess(draw_part(100), scorer.preprocess)
    return np.stack([shift(part, dx, dy) for dx, dy in moves])


def test_fit_registers_placed_parts_and_both_backends_carry_it(model_dir: Path) -> None:
    record = json.loads((model_dir / "model.json").read_text())["alignment"]
    assert record["aligned"] and record["mode"] == "auto"  # the fixture's discs sit within +-2 px: a placed part
    onnx, torch_backend = OnnxScorer(model_dir / "model.onnx"), TorchBackend.load(model_dir)
    assert onnx.aligner is not None and torch_backend.det.aligner_ is not None
    assert onnx.aligner.limit == torch_backend.det.aligner_.limit == record["limit"]
    np.testing.assert_array_equal(onnx.aligner.reference, torch_backend.det.aligner_.reference)
    shown = CliRunner().invoke(main, ["info", str(model_dir)]).stdout
    assert f"registration:     on (--align auto; golden median correlation peak {record['median_peak']}" in shown


def test_a_moved_part_scores_as_at_its_place_through_both_backends(model_dir: Path) -> None:
    """Moved 4 px (inside the limit) a part scores within a few % of itself unmoved; unregistered it would not."""
    onnx, torch_backend = OnnxScorer(model_dir / "model.onnx"), TorchBackend.load(model_dir)
    assert onnx.aligner is not None
    batch = _parts(onnx, [(0, 0), (4, 0), (0, -4)])
    for backend in (onnx, torch_backend):
        d = backend.distances(batch)
        assert np.all(np.abs(d[1:] / d[0] - 1) < 0.15), d
    plain = onnx.session.run(["distance"], {"images": batch})[0]  # the graph alone, without registration
    assert np.max(np.abs(plain[1:] / plain[0] - 1)) > 2 * np.max(np.abs(onnx.distances(batch)[1:] / onnx.distances(batch)[0] - 1))
    np.testing.assert_allclose(onnx.distances(batch), torch_backend.distances(batch), rtol=1e-4)


def test_a_part_beyond_the_limit_is_scored_where_it_is(model_dir: Path) -> None:
    onnx = OnnxScorer(model_dir / "model.onnx")
    assert onnx.aligner is not None
    far = onnx.aligner.limit + 8
    batch = _parts(onnx, [(far, 0)])
    _, offsets = onnx.aligner.apply(batch)
    assert offsets[0] > onnx.aligner.limit
    np.testing.assert_allclose(onnx.distances(batch), onnx.session.run(["distance"], {"images": batch})[0], rtol=1e-6)


def assert_fitted_without_registration(out: Path) -> None:
    """A model fitted with ``--align off`` (test_onnx's --no-onnx test fits one) records, exports and shows it so."""
    assert json.loads((out / "model.json").read_text())["alignment"] == {"mode": "off", "aligned": False}
    assert OnnxScorer(out / "model.onnx").aligner is None and TorchBackend.load(out).det.aligner_ is None
    assert "registration:     off (--align off)" in CliRunner().invoke(main, ["info", str(out)]).stdout


def test_a_registering_model_without_its_reference_is_one_clear_line(model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "m"
    shutil.copytree(model_dir, broken)
    (broken / "reference.png").unlink()
    incoming = tmp_path / "in"
    write_rgb(incoming / "a.png", draw_part(5))
    result = CliRunner().invoke(main, ["score", str(incoming), "-m", str(broken), "--backend", "torch"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "registers its inputs but has no reference image" in result.output
