"""The torch-free runtime distribution (runtime/pyproject.toml) in a fresh venv scores like the full install."""

from __future__ import annotations

import csv
import io
import subprocess
import venv
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspect_svdd.cli import main
from tests.conftest import REPO, SAMPLES

pytestmark = pytest.mark.slow
OFFLINE_SIGNS = ("No matching distribution", "Could not find a version", "NewConnectionError", "Network is unreachable")


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only `pip install ./runtime` (numpy, OpenCV, click, ONNX Runtime)."""
    root = tmp_path_factory.mktemp("runtime-venv")
    venv.create(root, with_pip=True)
    python = root / "bin" / "python"
    out = subprocess.run([str(python), "-m", "pip", "install", "-q", str(REPO / "runtime")],
                         capture_output=True, text=True)
    if out.returncode != 0 and any(sign in out.stdout + out.stderr for sign in OFFLINE_SIGNS):
        pytest.skip("the runtime install needs a package registry, and none is reachable")
    assert out.returncode == 0, out.stderr[-2000:]
    return root


def test_runtime_install_has_no_torch_and_scores_like_the_full_install(runtime_venv: Path, model_dir: Path,
                                                                       tmp_path: Path) -> None:
    python = runtime_venv / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('torch') is None)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert probe.stdout.strip() == "True"
    light = subprocess.run([str(runtime_venv / "bin" / "inspect-svdd"), "score", str(SAMPLES / "incoming"), "-m",
                            str(model_dir), "--csv", "-"], capture_output=True, text=True, cwd=tmp_path)
    full = CliRunner().invoke(main, ["score", str(SAMPLES / "incoming"), "-m", str(model_dir), "--csv", "-"])
    light_rows = list(csv.DictReader(io.StringIO(light.stdout)))
    full_rows = list(csv.DictReader(io.StringIO(full.stdout)))
    assert len(light_rows) == 40 and light.returncode == full.exit_code
    assert [r["verdict"] for r in light_rows] == [r["verdict"] for r in full_rows]
    for a, b in zip(light_rows, full_rows, strict=True):
        assert a["path"] == b["path"] and float(a["distance"]) == pytest.approx(float(b["distance"]), rel=1e-5)
    heat = subprocess.run([str(runtime_venv / "bin" / "inspect-svdd"), "score", str(SAMPLES / "incoming" / "scratch"),
                           "-m", str(model_dir), "--csv", "-", "--radius", "0", "--heatmaps", str(tmp_path / "light")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert heat.returncode == 1, heat.stderr  # occlusion heat maps through ONNX Runtime alone
    overlays = [r["heatmap"] for r in csv.DictReader(io.StringIO(heat.stdout))]
    assert len(overlays) == 4 and all(Path(p).is_file() for p in overlays)
    gradcam = subprocess.run([str(runtime_venv / "bin" / "inspect-svdd"), "score", str(SAMPLES / "incoming"), "-m",
                              str(model_dir), "--heatmaps", str(tmp_path / "g"), "--heatmap-method", "gradcam"],
                             capture_output=True, text=True, cwd=tmp_path)
    assert gradcam.returncode == 2 and len(gradcam.stderr.strip().splitlines()) == 1
    assert "Grad-CAM needs PyTorch" in gradcam.stderr
    fit = subprocess.run([str(runtime_venv / "bin" / "inspect-svdd"), "fit", str(SAMPLES / "golden"), "-o",
                          str(tmp_path / "m")], capture_output=True, text=True, cwd=tmp_path)
    assert fit.returncode == 2 and fit.stderr.strip().splitlines() == [
        "Error: this command needs torch, which the runtime install (inspect-svdd-runtime) leaves out; "
        "install the full inspect-svdd for it"]


