"""ONNX export and the torch-free runtime: parity, metadata, providers, no torch import."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner

from inspect_svdd.cli import main
from tests.conftest import FAST_FIT, REPO, SAMPLES, assert_same_verdicts, draw_part
from tests.integration.test_align import assert_fitted_without_registration


def test_onnx_file_is_valid_and_self_describing(model_dir: Path) -> None:
    model = onnx.load(str(model_dir / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    record = json.loads((model_dir / "model.json").read_text())
    assert float(meta["inspect_svdd.radius"]) == pytest.approx(record["radius"])
    assert meta["inspect_svdd.image_size"] == "128" and meta["inspect_svdd.channels"] == "3"
    assert meta["inspect_svdd.resize"] == "area" and meta["inspect_svdd.roi"] == ""
    assert meta["inspect_svdd.format_version"] == "3"
    assert meta["inspect_svdd.score_rule"] == record["config"]["score"]["rule"] != "auto"  # the scorer fit chose
    assert json.loads(meta["inspect_svdd.selection"])["chosen"] == record["selection"]["chosen"]
    assert set(json.loads(meta["inspect_svdd.selection"])["candidates"]) == {
        r["candidate"] for r in record["selection"]["candidates"]}
    assert json.loads(meta["inspect_svdd.radius_rule"]) == record["holdout"]["radius"]
    assert meta["inspect_svdd.train_files_sha256"] == record["training"]["files_sha256"]
    norm = json.loads(meta["inspect_svdd.normalisation"])
    assert norm["mean"] == pytest.approx(record["normalisation"]["mean"])
    assert {"inspect_svdd.version", "inspect_svdd.created", "inspect_svdd.input_contract"} <= set(meta)
    assert [i.name for i in model.graph.input] == ["images"]
    assert [o.name for o in model.graph.output] == ["distance", "score"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [128, 128, 3]
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8


def _incoming(det: object) -> np.ndarray:
    from inspect_svdd.io.images import list_images
    from inspect_svdd.io.preprocess import load_image

    return np.stack([load_image(p, det.config.preprocess) for p in list_images(SAMPLES / "incoming")])  # type: ignore[attr-defined]


def test_parity_torch_vs_onnx_on_samples(model_dir: Path) -> None:
    from inspect_svdd.deploy.export import check_parity
    from inspect_svdd.model.artifact import load_model

    det, _ = load_model(model_dir)
    assert check_parity(det, model_dir / "model.onnx", _incoming(det)) <= 1e-4  # relative to each score


@pytest.mark.parametrize("rule", ["center", "mahalanobis", "knn"])
def test_every_scoring_rule_exports_with_parity_and_a_broken_graph_is_caught(
        model_dir: Path, tmp_path: Path, rule: str) -> None:
    from inspect_svdd.config import ScoreConfig
    from inspect_svdd.deploy.export import export_onnx
    from inspect_svdd.io.images import list_images
    from inspect_svdd.io.preprocess import load_image
    from inspect_svdd.model.artifact import load_model

    det, record = load_model(model_dir)
    golden = np.stack([load_image(p, det.config.preprocess) for p in list_images(record["training"]["folder"])])
    det = det.with_rule(ScoreConfig(rule, k=3), golden)
    images = _incoming(det)
    assert export_onnx(det, tmp_path / f"{rule}.onnx", record, images) <= 1e-4
    from inspect_svdd.deploy.runtime import OnnxScorer

    onnx_scores = OnnxScorer(tmp_path / f"{rule}.onnx").score(images)
    assert ((onnx_scores > 0) == det.predict(images)).all()


@pytest.fixture(scope="module")
def stages_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """k-NN on pooled stage features, fitted on samples/golden (3 + 6 epochs: standardising the features of a
    2-epoch model on 7 images turns float noise into score differences no trained model shows)."""
    out = tmp_path_factory.mktemp("stages") / "model"
    result = CliRunner().invoke(main, ["fit", str(SAMPLES / "golden"), "-o", str(out), "--features", "stages",
                                       "--ae-epochs", "3", "--epochs", "6", "--ae-min-steps", "0", "--min-steps", "0", "-q"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("features", ["stages", "both"])
@pytest.mark.parametrize("rule", ["knn", "mahalanobis"])
def test_stage_feature_rules_export_with_parity(stages_model: Path, tmp_path: Path, rule: str, features: str) -> None:
    from inspect_svdd.config import ScoreConfig
    from inspect_svdd.deploy.export import export_onnx
    from inspect_svdd.deploy.runtime import OnnxScorer
    from inspect_svdd.io.images import list_images
    from inspect_svdd.io.preprocess import load_image
    from inspect_svdd.model.artifact import load_model

    det, record = load_model(stages_model)
    golden = np.stack([load_image(p, det.config.preprocess) for p in list_images(SAMPLES / "golden")])
    det = det.with_rule(ScoreConfig(rule, features=features), golden)  # type: ignore[arg-type]
    images = np.stack([load_image(p, det.config.preprocess) for p in list_images(SAMPLES / "incoming")])
    # measured 1e-6 R^2 (k-NN) to 1.0e-4 R^2 (Mahalanobis on 1,504 features from 96 images, whose shrunk
    # covariance amplifies float noise most); export itself refuses anything over 1e-3
    assert export_onnx(det, tmp_path / "m.onnx", record, images) <= 5e-4
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert meta["inspect_svdd.score_features"] == features
    assert ((OnnxScorer(tmp_path / "m.onnx").score(images) > 0) == det.predict(images)).all()


def test_tiled_model_exports_with_parity_and_both_backends_agree(golden_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiled"
    result = CliRunner().invoke(main, ["fit", str(golden_dir), "-o", str(out), "--frame-size", "256", *FAST_FIT])
    assert result.exit_code == 0, result.output
    meta = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert (meta["inspect_svdd.image_size"], meta["inspect_svdd.tile_size"], meta["inspect_svdd.tiles"]) == ("256", "128", "4")
    rows = {}
    for backend in ("torch", "onnx"):
        result = CliRunner().invoke(main, ["score", str(SAMPLES / "incoming"), "-m", str(out), "--backend", backend,
                                           "--csv", "-"])
        rows[backend] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows["onnx"]) == 40
    for a, b in zip(rows["torch"], rows["onnx"], strict=True):
        assert float(a["distance"]) == pytest.approx(float(b["distance"]), rel=1e-4)
    assert_same_verdicts(rows["torch"], rows["onnx"])


@pytest.mark.parametrize(("factor", "offset"), [(0.99, 0.0), (1.01, 0.0), (1.0, 0.01), (1.0, -0.01)])
def test_a_broken_export_is_caught_and_keeps_the_last_good_file(model_dir: Path, golden_dir: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch, factor: float,
                                                                 offset: float) -> None:
    from inspect_svdd.deploy import export
    from inspect_svdd.errors import ExportError
    from inspect_svdd.io.datasets import load_folder
    from inspect_svdd.model.artifact import load_model

    det, record = load_model(model_dir)
    forward = export.ScoringGraph.forward

    def broken(self: export.ScoringGraph, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dist, _ = forward(self, images)  # the statistic 1 % off, or shifted by 1 % of R^2: ten times the tolerance
        dist = dist * factor + offset * self.radius_sq
        return dist, dist - self.radius_sq

    # far-out parts (samples/ on a model of other parts) and parts near the boundary (its own golden images)
    check = np.concatenate([_incoming(det), load_folder(golden_dir, det.config.preprocess, "3").images])
    good = (model_dir / "model.onnx").read_bytes()
    (tmp_path / "m.onnx").write_bytes(good)  # the last good export
    monkeypatch.setattr(export.ScoringGraph, "forward", broken)
    with pytest.raises(ExportError, match=f"{tmp_path / 'm.onnx'}: ONNX Runtime and PyTorch disagree"):
        export.export_onnx(det, tmp_path / "m.onnx", record, check)
    assert (tmp_path / "m.onnx").read_bytes() == good and not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ExportError, match="disagree"):
        export.export_onnx(det, tmp_path / "new.onnx", record, check)
    assert not (tmp_path / "new.onnx").exists()


def test_parity_is_relative_to_the_score_so_far_out_parts_do_not_fail_a_good_export(model_dir: Path) -> None:
    from inspect_svdd.deploy import export
    from inspect_svdd.model.artifact import load_model

    det, _ = load_model(model_dir)
    images = _incoming(det)
    far = det.score(images) / det.radius_**2 + 1  # type: ignore[operator]
    assert far.max() > 5  # the calibrate scenario of issue 24: defects far outside R
    # a float error of 2e-4 of each statistic: below the tolerance relative to the score, far above it in R^2 units
    # for the far-out parts (the old check measured it in R^2 and refused a correct export)
    class Jittered:
        def __init__(self, *_: object, **__: object) -> None:
            pass

        def score(self, x: np.ndarray) -> np.ndarray:
            stat = det.score(x).astype(np.float64) + det.radius_**2  # type: ignore[operator]
            return stat * (1 + 2e-4) - det.radius_**2  # type: ignore[operator]

    import inspect_svdd.deploy.runtime as runtime

    original = runtime.OnnxScorer
    runtime.OnnxScorer = Jittered  # type: ignore[misc,assignment]
    try:
        err = export.check_parity(det, "jittered.onnx", images)
    finally:
        runtime.OnnxScorer = original  # type: ignore[misc]
    assert 1e-4 < err < 1e-3


def test_model_json_and_onnx_are_bound_and_a_stranger_is_refused(model_dir: Path, golden_dir: Path,
                                                                  tmp_path: Path) -> None:
    import shutil

    record = json.loads((model_dir / "model.json").read_text())
    meta = {p.key: p.value for p in onnx.load(str(model_dir / "model.onnx")).metadata_props}
    assert len(record["fingerprint"]) == 64 and meta["inspect_svdd.fingerprint"] == record["fingerprint"]
    assert json.loads(meta["inspect_svdd.versions"]) == record["versions"]
    assert json.loads(meta["inspect_svdd.config"]) == record["config"]
    other = tmp_path / "other"  # another model (another seed) with this model's ONNX file copied in
    result = CliRunner().invoke(main, ["fit", str(golden_dir), "-o", str(other), "--seed", "1", "--no-onnx", *FAST_FIT])
    assert result.exit_code == 0, result.output
    shutil.copy(model_dir / "model.onnx", other / "model.onnx")
    result = CliRunner().invoke(main, ["score", str(SAMPLES / "incoming"), "-m", str(other), "--csv", "-"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"Error: {other / 'model.onnx'}: does not belong to {other / 'model.json'} (the model was refitted or "
        f"changed after export); run `inspect-svdd export {other}` or use --backend torch"]


def test_fit_without_onnx_removes_the_stale_onnx_file(golden_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    assert CliRunner().invoke(main, ["fit", str(golden_dir), "-o", str(out), "--align", "off", *FAST_FIT]).exit_code == 0
    assert (out / "model.onnx").is_file()
    assert_fitted_without_registration(out)  # --align off, checked on this fit rather than paying for another
    result = CliRunner().invoke(main, ["fit", str(golden_dir), "-o", str(out), "--no-onnx", "--seed", "1", *FAST_FIT])
    assert result.exit_code == 0 and not (out / "model.onnx").exists()
    result = CliRunner().invoke(main, ["score", str(SAMPLES / "incoming" / "good"), "-m", str(out), "--csv", "-"])
    assert "[torch," in result.stderr  # auto picks the only model there is


def test_export_without_a_recorded_folder_asks_for_one(model_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(model_dir, copy)
    record = json.loads((copy / "model.json").read_text())
    del record["training"]["folder"]
    (copy / "model.json").write_text(json.dumps(record))
    monkeypatch.chdir(tmp_path)  # a folder full of images that must not be scanned
    result = CliRunner().invoke(main, ["export", str(copy)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {copy}: no training folder recorded for the parity check; pass --check FOLDER"
    result = CliRunner().invoke(main, ["export", str(copy), "--check", str(SAMPLES / "golden")])
    assert result.exit_code == 0, result.output


def test_export_command_rewrites_with_parity(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "again.onnx"
    result = CliRunner().invoke(main, ["export", str(model_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    match = re.search(r"largest relative score difference ([0-9.e+-]+), same verdicts", result.stderr)
    assert match and float(match.group(1)) <= 1e-4 and out.is_file()


def test_export_leaves_encoder_in_eval_mode(model_dir: Path, tmp_path: Path) -> None:
    from inspect_svdd.deploy.export import export_onnx
    from inspect_svdd.model.artifact import load_model

    det, record = load_model(model_dir)
    assert det.encoder_ is not None
    det.encoder_.train()  # the trap: a wrapper built around a module in training mode
    images = np.stack([draw_part(i) for i in range(4)])
    assert export_onnx(det, tmp_path / "m.onnx", record, images) <= 1e-4
    assert not any(m.training for m in det.encoder_.modules())


def test_both_backends_give_identical_verdicts_on_samples(model_dir: Path) -> None:
    rows = {}
    for backend in ("torch", "onnx"):
        result = CliRunner().invoke(main, ["score", str(SAMPLES / "incoming"), "-m", str(model_dir),
                                           "--backend", backend, "--csv", "-"])
        rows[backend] = list(csv.DictReader(io.StringIO(result.stdout)))
        # keycaps scored by a model of discs: every part far outside the sphere, so exit 1 on any CPU
        assert result.exit_code == 1 and {r["verdict"] for r in rows[backend]} == {"fail"}, result.output
        assert min(float(r["distance"]) / float(r["radius"]) ** 2 for r in rows[backend]) > 2
        assert f"[{backend}," in result.stderr
    assert len(rows["torch"]) == 40
    assert [r["verdict"] for r in rows["torch"]] == [r["verdict"] for r in rows["onnx"]]
    for a, b in zip(rows["torch"], rows["onnx"], strict=True):
        assert float(a["distance"]) == pytest.approx(float(b["distance"]), rel=1e-4)


def test_runtime_works_with_torch_unimportable(model_dir: Path) -> None:
    code = f"""
import sys
sys.modules["torch"] = None  # any 'import torch' now raises ImportError
from inspect_svdd.deploy.runtime import OnnxScorer
from inspect_svdd.io.images import list_images
from inspect_svdd.io.preprocess import load_image
import numpy as np
scorer = OnnxScorer({str(model_dir / "model.onnx")!r})
paths = list_images({str(SAMPLES / "incoming")!r})
scores = scorer.score(np.stack([load_image(p, scorer.preprocess) for p in paths]))
print(len(scores), scorer.provider, "torch" in sys.modules and sys.modules["torch"] is not None)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    count, provider, torch_loaded = out.stdout.split()
    assert (count, torch_loaded) == ("40", "False") and provider in auto_providers()


def test_score_cli_onnx_path_does_not_import_torch(model_dir: Path) -> None:
    code = f"""
import sys
sys.modules["torch"] = None
from inspect_svdd.cli import main
sys.argv = ["inspect-svdd", "score", {str(SAMPLES / "incoming" / "good")!r}, "-m", {str(model_dir)!r}, "--csv", "-"]
main()
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 16 and out.returncode == int(any(r["verdict"] == "fail" for r in rows)), out.stderr
    assert any(f"[onnx, {provider}]" in out.stderr for provider in auto_providers())


def test_device_cuda_without_gpu_is_a_clear_error(model_dir: Path) -> None:
    from inspect_svdd.deploy.runtime import cuda_device_count

    if cuda_device_count() > 0:
        pytest.skip("this machine has a GPU")
    from inspect_svdd.deploy.runtime import cuda_device_count

    result = CliRunner().invoke(main, ["score", str(SAMPLES / "incoming" / "good"), "-m", str(model_dir),
                                       "--device", "cuda"])
    if cuda_device_count():  # on a GPU machine the same command must work
        assert re.search(r"\[onnx, (CUDA|Tensorrt)ExecutionProvider\]", result.stderr) and result.exit_code != 2
    else:
        assert result.exit_code == 2 and "no usable CUDA device" in result.stderr


def auto_providers() -> tuple[str, ...]:
    """The providers ``--device auto`` may pick on this machine (GPU ones where a GPU works)."""
    from inspect_svdd.deploy.runtime import cuda_device_count

    return ("CUDAExecutionProvider", "TensorrtExecutionProvider") if cuda_device_count() else ("CPUExecutionProvider",)


def test_auto_device_falls_back_to_cpu_quietly(model_dir: Path) -> None:
    from inspect_svdd.deploy.runtime import OnnxScorer

    scorer = OnnxScorer(model_dir / "model.onnx", device="auto")
    assert scorer.provider in auto_providers()


def test_readme_deployment_snippet_runs(model_dir: Path, tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Deploy to a line PC", 1)[1]
    snippet = block.split("```python", 1)[1].split("```", 1)[0]
    snippet = snippet.replace("model/model.onnx", str(model_dir / "model.onnx"))
    snippet = snippet.replace("samples/incoming/scratch/scratch_000.png",
                              str(SAMPLES / "incoming" / "scratch" / "scratch_000.png"))
    script = tmp_path / "snippet.py"
    script.write_text("import sys\nsys.modules['torch'] = None\n" + snippet)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, check=True)
    assert re.search(r"(pass|fail) score=[-+0-9.e]+", out.stdout)


@pytest.mark.parametrize(("key", "value"), [("preprocess", '{"image_size": 128, "channels": 3, "sharpen": true}'),
                                            ("preprocess", "[1, 2]"), ("radius", "wide"), ("training", "[3]")])
def test_bad_onnx_metadata_is_one_line(model_dir: Path, tmp_path: Path, key: str, value: str) -> None:
    proto = onnx.load(str(model_dir / "model.onnx"))
    for prop in proto.metadata_props:
        if prop.key == f"inspect_svdd.{key}":
            prop.value = value
    onnx.save(proto, str(tmp_path / "odd.onnx"))
    result = CliRunner().invoke(main, ["score", str(SAMPLES / "incoming" / "good"), "-m", str(tmp_path / "odd.onnx")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {tmp_path / 'odd.onnx'}: invalid model metadata (")


def test_onnx_metadata_carries_the_drift_reference_of_the_torch_model(model_dir: Path) -> None:
    from inspect_svdd.deploy.runtime import OnnxScorer
    from inspect_svdd.deploy.torch_backend import TorchBackend

    onnx_ref = OnnxScorer(model_dir / "model.onnx").drift_reference
    torch_ref = TorchBackend.load(model_dir).drift_reference
    assert onnx_ref is not None and torch_ref is not None and abs(onnx_ref - torch_ref) <= 1e-9 * abs(torch_ref)
