"""The local model through the CLI: fit, ONNX with its map output and parity, both backends, heat maps, runtime."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from inspect_svdd.cli import main
from tests.conftest import assert_same_verdicts, draw_part

LOCAL_FIT = ["--model-kind", "local", "--image-size", "64", "--local-steps", "120", "--local-batch", "8",
             "--local-width", "16", "--augment", "none", "-q"]


@pytest.fixture(scope="module")
def local_model(golden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local") / "model"
    result = CliRunner().invoke(main, ["fit", str(golden_dir), "-o", str(out), *LOCAL_FIT])
    assert result.exit_code == 0, result.output
    assert "parity" in result.output
    return out


def test_model_folder_records_the_kind_and_the_graph_outputs_the_map(local_model: Path) -> None:
    record = json.loads((local_model / "model.json").read_text())
    assert record["config"]["local"]["model_kind"] == "local"
    assert record["score_rule"]["rule"] == "local-map"
    assert record["schedule"]["local"]["steps"] == 120
    proto = onnx.load(str(local_model / "model.onnx"))
    assert [o.name for o in proto.graph.output] == ["distance", "score", "map"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["inspect_svdd.model_kind"] == "local"


def test_the_default_input_is_standardised_per_image(local_model: Path) -> None:
    """The standardiser's invariance is tested in test_nets; here: the default fit uses it, recorded as such."""
    record = json.loads((local_model / "model.json").read_text())
    assert record["config"]["local"]["local_input"] == "image" and record["normalisation"]["kind"] == "per-image"
    meta = {p.key: p.value for p in onnx.load(str(local_model / "model.onnx")).metadata_props}
    assert json.loads(meta["inspect_svdd.normalisation"])["kind"] == "per-image"


def test_both_backends_agree_and_the_runtime_gives_the_map(local_model: Path, incoming_dir: Path) -> None:
    from inspect_svdd.deploy.runtime import OnnxScorer
    from inspect_svdd.model.artifact import load_model

    rows = {}
    for backend in ("torch", "onnx"):
        result = CliRunner().invoke(main, ["score", str(incoming_dir), "-m", str(local_model), "--backend", backend,
                                           "--csv", "-", "-q"])
        rows[backend] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows["onnx"]) == 7  # six images and the corrupt file's error row
    for a, b in zip(rows["torch"], rows["onnx"], strict=True):
        if a["verdict"] != "error":
            assert float(a["distance"]) == pytest.approx(float(b["distance"]), rel=1e-4)
    assert_same_verdicts(rows["torch"], rows["onnx"])
    images = np.stack([draw_part(400 + i, size=64) for i in range(3)])
    scorer = OnnxScorer(local_model / "model.onnx", device="cpu")
    det, _ = load_model(local_model)
    onnx_maps = scorer.maps(images)
    assert onnx_maps.shape == (3, 16, 16)
    np.testing.assert_allclose(onnx_maps, det.maps(images), rtol=1e-3, atol=1e-4 * float(onnx_maps.max()))  # type: ignore[attr-defined]
    np.testing.assert_allclose(scorer.distances(images), onnx_maps.reshape(3, -1).max(axis=1), rtol=1e-5)


def test_scratches_score_above_good_parts(local_model: Path, incoming_dir: Path) -> None:
    result = CliRunner().invoke(main, ["score", str(incoming_dir), "-m", str(local_model), "--csv", "-", "-q"])
    rows = [r for r in csv.DictReader(io.StringIO(result.stdout)) if r["verdict"] != "error"]
    good = [float(r["distance"]) for r in rows if "/good/" in r["path"]]
    bad = [float(r["distance"]) for r in rows if "/scratch/" in r["path"]]
    assert min(bad) > 2 * max(good), (good, bad)


def test_evaluate_draws_heat_maps_from_the_map(local_model: Path, incoming_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", str(incoming_dir), "-m", str(local_model), "-o", str(tmp_path / "ev")])
    assert result.exit_code == 3, result.output  # 3: the corrupt file was an error row; the rest were evaluated
    assert "heat maps (map)" in result.output
    assert any((tmp_path / "ev" / "heatmaps").rglob("*.png"))


def test_map_heat_maps_of_a_global_model_are_refused(model_dir: Path, incoming_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", str(incoming_dir), "-m", str(model_dir), "-o", str(tmp_path / "ev"),
                                       "--heatmap-method", "map"])
    assert result.exit_code != 0
    assert "no anomaly map" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("args", "says"), [
    (["--image-size", "8"], "too small"),
    (["--frame-size", "256"], "frame-size"),
    (["--map-smoothing", "4"], "odd"),
    (["--score", "knn"], "--score"),
    (["--local-scales", "2", "--image-size", "68"], "multiple of 8 pixels"),
    (["--local-scales", "3"], "1 or 2"),
])
def test_bad_local_options_are_one_line(golden_dir: Path, tmp_path: Path, args: list[str], says: str) -> None:
    result = CliRunner().invoke(main, ["fit", str(golden_dir), "-o", str(tmp_path / "m"), "--model-kind", "local", *args])
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m").exists()


def test_info_says_what_the_local_model_is(local_model: Path) -> None:
    result = CliRunner().invoke(main, ["info", str(local_model)])
    assert result.exit_code == 0, result.output
    assert "local map model: 120 optimisation steps" in result.output
    context = json.loads((local_model / "model.json").read_text())["config"]["local"]["local_context"]
    assert context in (0, 2) and f"{context} dilated context block(s)" in result.output  # fit decided, info says
    assert "largest cell of the anomaly map" in result.output
    reference = json.loads((local_model / "model.json").read_text())["config"]["local"]["map_reference"]
    assert reference in ("centre", "position")  # fit resolved auto, and info says which
    assert ("against the golden cells at the same place" if reference == "position" else "against the centre c") \
        in result.output
    loss = json.loads((local_model / "model.json").read_text())["config"]["local"]["local_loss"]
    assert loss == ("sad" if reference == "position" else "fcdd")  # auto: FCDD's loss to c, Deep SAD's per place
    assert ("loss Deep SAD" if loss == "sad" else "loss FCDD's hypersphere classifier") in result.output
    pixels = json.loads((local_model / "model.json").read_text())["config"]["local"]["map_pixels"]
    assert pixels == (reference == "position")  # auto: the pixels join the per-place reference only
    assert ("on their features and their mean pixels" in result.output) == pixels
    record = json.loads((local_model / "model.json").read_text())
    choice, regions = record["selection"].get("local_regions"), record["config"]["local"]["local_regions"]
    assert (choice is not None) == (reference == "centre")  # unset: fit judged a map per share only with c
    assert regions == (choice["chosen"] if choice else 0.0)
    assert (f"share {regions:g} chosen by fit among 2 maps" in result.output) == (choice is not None)


def _strip(seed: int, crack_x: int | None = None) -> np.ndarray:
    """A long gray strip (80 x 320 px) with a faint weave, and a thin dark crack across it where ``crack_x`` is given."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:80, 0:320]
    img = 150 + 12 * np.sin(cols / 3.0 + rng.uniform(0, 0.3)) + 6 * np.sin(rows / 5.0) + rng.normal(0, 2, (80, 320))
    if crack_x is not None:
        img[15:65, crack_x : crack_x + 2] = 60
    return np.clip(np.repeat(img[:, :, None], 3, axis=2), 0, 255).astype(np.uint8)


def test_a_non_square_local_model_keeps_the_frame_s_shape(tmp_path: Path) -> None:
    """A 80 x 320 frame at 32 x 128: the map is 8 x 32 cells, the crack's column is the hottest, both backends agree."""
    import cv2

    from inspect_svdd.deploy.runtime import OnnxScorer

    golden, incoming = tmp_path / "golden", tmp_path / "incoming"
    for i in range(24):
        (golden / "x").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(golden / "x" / f"g{i:02d}.png"), _strip(i))
    (incoming / "good").mkdir(parents=True)
    (incoming / "crack").mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(incoming / "good" / f"g{i}.png"), _strip(100 + i))
        cv2.imwrite(str(incoming / "crack" / f"c{i}.png"), _strip(200 + i, crack_x=60 + 90 * i))
    out = tmp_path / "model"
    fit = ["fit", str(golden), "-o", str(out), "--model-kind", "local", "--image-size", "128", "--image-height", "32",
           "--local-steps", "150", "--local-batch", "8", "--local-width", "16", "--augment", "none", "-q"]
    result = CliRunner().invoke(main, fit)
    assert result.exit_code == 0, result.output
    _cracks_stand_out_through_both_backends(incoming, out)
    from inspect_svdd.config import PreprocessConfig
    from inspect_svdd.io.preprocess import preprocess

    cfg = PreprocessConfig(image_size=128, image_height=32, channels=1)  # the strips are gray: fit chose one channel
    images = np.stack([preprocess(_strip(300 + i, crack_x=60 + 90 * i), cfg) for i in range(3)])
    assert images.shape == (3, 32, 128, 1)
    maps = OnnxScorer(out / "model.onnx", device="cpu").maps(images)
    assert maps.shape == (3, 8, 32)
    for i, m in enumerate(maps):  # the crack at source column 60 + 90 i lies in map column (60 + 90 i) * 128 / 320 / 4
        column = int(np.argmax(m.max(axis=0)))
        assert abs(column - (61 + 90 * i) * 128 / 320 / 4) <= 1.5, (i, column)
    result = CliRunner().invoke(main, ["evaluate", str(incoming), "-m", str(out), "-o", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.output
    overlays = sorted((tmp_path / "ev" / "heatmaps").rglob("*.png"))
    assert overlays and all(cv2.imread(str(p)).shape[:2] == (80, 320) for p in overlays)  # on the frame's own grid


def test_a_non_square_input_is_for_the_local_model(golden_dir: Path, tmp_path: Path) -> None:
    for extra, message in [([], "a non-square input (--image-height) is for the local model"),
                           (["--model-kind", "local", "--image-height", "30"], "image height must be a multiple of 4")]:
        args = ["fit", str(golden_dir), "-o", str(tmp_path / "m"), "--image-height", "64", "-q", *extra]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and message in result.output, result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_model_kind_both_keeps_one_kind_with_the_comparison_and_refuses_resume(golden_dir: Path, incoming_dir: Path,
                                                                               tmp_path: Path) -> None:
    from tests.conftest import FAST_FIT

    out = tmp_path / "auto"
    auto = ["--model-kind", "both", *(a for a in LOCAL_FIT + FAST_FIT if a not in ("--model-kind", "local", "-q"))]
    result = CliRunner().invoke(main, ["fit", str(golden_dir), "-o", str(out), *auto])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "model.json").read_text())
    choice = record["selection"]["model_kind"]
    assert {r["candidate"] for r in choice["candidates"]} == {"global", "local"}
    assert choice["judged_on"]["families"] == ["cutpaste", "dent", "smudge"]  # none of the local model's training kinds
    assert record["config"]["local"]["model_kind"] == choice["chosen"]  # the saved model is of one kind
    assert f"model kind: {choice['chosen']} kept over" in result.output
    info = CliRunner().invoke(main, ["info", str(out)])
    assert f"{choice['chosen']}, chosen by fit (--model-kind both)" in info.output
    scored = CliRunner().invoke(main, ["score", str(incoming_dir), "-m", str(out), "--csv", "-", "-q"])
    assert scored.exit_code == 3 and scored.stdout.count("\n") == 8  # header, six parts, the corrupt file's error row
    CliRunner().invoke(main, ["evaluate", str(incoming_dir), "-m", str(out), "-o", str(tmp_path / "ev"), "-q"])
    assert "Model kind chosen by fit" in (tmp_path / "ev" / "report.html").read_text()
    refused = CliRunner().invoke(main, ["fit", str(golden_dir), "-o", str(tmp_path / "again"), *auto, "--resume"])
    assert refused.exit_code != 0 and "--resume is for one model kind's fit" in refused.output
    assert "Traceback" not in refused.output and not (tmp_path / "again").exists()
    refused = CliRunner().invoke(main, ["fit", str(golden_dir), "-o", str(tmp_path / "sad"), *auto,
                                        "--defects", str(incoming_dir / "scratch")])
    assert refused.exit_code != 0 and "--defects is for one model kind's fit" in refused.output
    assert "Traceback" not in refused.output and not (tmp_path / "sad").exists()


def test_golden_strips_of_varied_lengths_keep_their_aspect_ratio(tmp_path: Path) -> None:
    """Strips 80 px high and 160 to 320 px long: fit keeps their aspect ratio, both backends and the runtime agree,
    a crack fails and its heat map peaks at the crack on the strip's own grid."""
    import cv2

    from inspect_svdd.deploy.backends import open_backend
    from inspect_svdd.evaluate.heatmaps import HeatMapper
    from inspect_svdd.io.preprocess import preprocess

    golden, incoming = tmp_path / "golden", tmp_path / "incoming"
    golden.mkdir()
    for i in range(24):
        cv2.imwrite(str(golden / f"g{i:02d}.png"), _strip(i)[:, : 160 + 8 * (i % 21)])
    (incoming / "good").mkdir(parents=True)
    (incoming / "crack").mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(incoming / "good" / f"g{i}.png"), _strip(100 + i)[:, : 200 + 40 * i])
        cv2.imwrite(str(incoming / "crack" / f"c{i}.png"), _strip(200 + i, crack_x=60 + 60 * i)[:, : 200 + 40 * i])
    out = tmp_path / "model"
    fit = ["fit", str(golden), "-o", str(out), "--model-kind", "local", "--image-size", "128", "--local-steps", "150",
           "--local-batch", "8", "--local-width", "16", "--augment", "none"]
    result = CliRunner().invoke(main, fit)
    assert result.exit_code == 0, result.output
    choice = json.loads((out / "model.json").read_text())["selection"].get("local_regions")
    reference = json.loads((out / "model.json").read_text())["config"]["local"]["map_reference"]
    assert (choice is not None) == (reference == "centre")  # --local-regions unset: both maps judged where the map is to c
    if choice:
        assert f"large regions: share {choice['chosen']:g} chosen by fit among 2 maps" in result.output
    assert "aspect ratios kept (the golden images differ in shape" in result.output
    assert json.loads((out / "model.json").read_text())["config"]["preprocess"]["aspect"] == "keep"
    meta = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert meta["inspect_svdd.aspect"] == "keep" and json.loads(meta["inspect_svdd.preprocess"])["aspect"] == "keep"
    _cracks_stand_out_through_both_backends(incoming, out)
    mapper = HeatMapper(open_backend(out, "onnx"))
    strip = mapper.backend.preprocess  # the runtime's settings, read from the ONNX metadata
    net_input = preprocess(cv2.imread(str(incoming / "good" / "g0.png")), strip)[:, :, 0]  # 80 x 200: 51 rows at 38
    assert np.array_equal(net_input[37::-1], net_input[38:76])  # the rows above the strip mirror it
    for i in range(3):
        image, heat = mapper.of_file(incoming / "crack" / f"c{i}.png")
        assert heat.shape == image.shape[:2] == (80, 200 + 40 * i)  # back on the strip, margins dropped
        assert abs(int(np.argmax(heat.max(axis=0))) - (61 + 60 * i)) <= 8, i
    assert "aspect ratio kept" in CliRunner().invoke(main, ["info", str(out)]).output


def _cracks_stand_out_through_both_backends(incoming: Path, model: Path) -> None:
    """``score`` through PyTorch and ONNX Runtime: the same verdicts, and every crack at over twice the good parts' distance."""
    rows = {}
    for backend in ("torch", "onnx"):
        result = CliRunner().invoke(main, ["score", str(incoming), "-m", str(model), "--backend", backend, "--csv", "-", "-q"])
        rows[backend] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert_same_verdicts(rows["torch"], rows["onnx"])
    good = [float(r["distance"]) for r in rows["onnx"] if "/good/" in r["path"]]
    bad = [float(r["distance"]) for r in rows["onnx"] if "/crack/" in r["path"]]
    assert min(bad) > 2 * max(good), (good, bad)
