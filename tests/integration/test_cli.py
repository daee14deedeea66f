"""End to end through Click's CliRunner: fit, score, CSV, exit codes, bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from inspect_svdd.cli import main
from tests.conftest import FAST_FIT, FAST_PRETRAIN, assert_same_verdicts, draw_part, write_rgb


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_fit_writes_complete_model(model_dir: Path, golden_dir: Path) -> None:
    record = json.loads((model_dir / "model.json").read_text())
    assert record["format_version"] == 3 and record["kind"] == "model"
    assert record["config"]["preprocess"] == {"image_size": 128, "image_height": None, "channels": 3, "roi": None,
                                              "resize": "area", "aspect": "stretch", "frame_size": None,
                                              "decode": "full"}  # one golden shape: auto stretched
    assert len(record["center"]) == 512 and record["radius"] > 0
    assert record["training"]["count"] == 12 and len(record["training"]["files_sha256"]) == 64
    assert [h["stage"] for h in record["history"]] == ["pretrain"] * 2 + ["svdd"] * 2
    assert record["holdout"]["count"] == 5 and record["seed"] == 0
    assert {"torch", "numpy", "albumentations"} <= set(record["versions"])
    assert (model_dir / "encoder.pt").is_file() and (model_dir / "model.onnx").is_file()
    assert record["score_rule"]["rule"] == record["config"]["score"]["rule"] and (model_dir / "head.pt").is_file()
    assert record["holdout"]["radius"]["rule"] == record["config"]["train"]["radius_rule"]
    kind = record["selection"]["model_kind"]  # --model-kind auto: placed parts register, so the global model
    assert record["config"]["local"]["model_kind"] == kind["chosen"] == "global" and kind["decided_by"] == "layout"
    code, out, _ = run("info", str(model_dir))
    assert code == 0 and "global, decided by fit before training: the golden images register" in out


def test_score_csv_to_stdout_with_error_row(model_dir: Path, incoming_dir: Path) -> None:
    code, out, err = run("score", str(incoming_dir), "-m", str(model_dir), "--csv", "-")
    rows = read_csv(out)
    assert list(rows[0]) == ["path", "score", "distance", "radius", "verdict", "error"]
    assert [Path(r["path"]).name for r in rows] == [
        "good_0.png", "good_1.png", "good_2.png", "scratch_0.png", "scratch_1.png", "scratch_2.png", "zz_corrupt.png"]
    bad = rows[-1]
    assert bad["verdict"] == "error" and bad["score"] == "" and bad["error"] == "PNG file is truncated (no end marker)"
    for r in rows[:-1]:
        score, dist, radius = float(r["score"]), float(r["distance"]), float(r["radius"])
        assert score == pytest.approx(dist - radius**2, rel=1e-4, abs=1e-6)
        assert r["verdict"] == ("fail" if score > 0 else "pass")
    assert code == 3  # one unreadable image
    assert "7 images:" in err and "1 error" in err and "images/s" in err
    assert "path,score" not in err


def test_radius_override_changes_verdicts_and_exit_code(model_dir: Path, incoming_dir: Path) -> None:
    good = incoming_dir / "good"
    code, out, _ = run("score", str(good), "-m", str(model_dir), "--csv", "-", "--radius", "1e6")
    assert code == 0 and {r["verdict"] for r in read_csv(out)} == {"pass"}
    code, out, _ = run("score", str(good), "-m", str(model_dir), "--csv", "-", "--radius", "0")
    assert code == 1 and {r["verdict"] for r in read_csv(out)} == {"fail"}
    code, out, err = run("score", str(good), "-m", str(model_dir), "--radius", "-1")
    assert code == 2 and out == "" and "-1.0 is not in the range x>=0" in err


def test_csv_file_and_plain_lines(model_dir: Path, incoming_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "results.csv"
    code, out, _ = run("score", str(incoming_dir / "good"), "-m", str(model_dir), "--csv", str(target), "--radius", "1e6")
    rows = read_csv(target.read_text())
    assert len(rows) == 3 and out == "" and code == 0 and {r["verdict"] for r in rows} == {"pass"}  # a radius all pass
    code, out, _ = run("score", str(incoming_dir / "good"), "-m", str(model_dir), "--radius", "1e-9")
    assert code == 1 and len(out.strip().splitlines()) == 3 and all(line.split()[0] == "fail" for line in out.splitlines())


def test_interrupted_run_keeps_written_rows(model_dir: Path, incoming_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from inspect_svdd.deploy import results as report

    target = tmp_path / "partial.csv"
    original = report.CsvWriter.write
    calls = {"n": 0}

    def write_then_stop(self: report.CsvWriter, row: object) -> None:
        if calls["n"] == 4:
            raise KeyboardInterrupt
        calls["n"] += 1
        original(self, row)  # type: ignore[arg-type]

    monkeypatch.setattr(report.CsvWriter, "write", write_then_stop)
    code, _, err = run("score", str(incoming_dir), "-m", str(model_dir), "--csv", str(target), "--batch-size", "2")
    assert code == 130 and "interrupted after 4 of 7 images" in err and str(target) in err
    assert len(read_csv(target.read_text())) == 4


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("empty", "folder is empty"),
        ("text_only", "no images (1 other file(s), e.g. notes.txt)"),
        ("few", "too few golden images for a held-out split: found 4, need at least 11 (6 to train"),
        ("all_corrupt", "none of the 2 image file(s) could be read"),
    ],
)
def test_fit_bad_folders_one_line_error(tmp_path: Path, setup: str, message: str) -> None:
    folder = tmp_path / "golden"
    folder.mkdir()
    if setup == "text_only":
        (folder / "notes.txt").write_text("hello")
    elif setup == "few":
        for i in range(4):
            write_rgb(folder / f"{i}.png", draw_part(i))
    elif setup == "all_corrupt":
        (folder / "a.png").write_bytes(b"")
        (folder / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    extra = ["--augment", "none"] if setup == "few" else []
    code, _, err = run("fit", str(folder), "-o", str(tmp_path / "m"), *FAST_FIT, *extra)
    assert code == 2
    lines = err.strip().splitlines()
    assert message in lines[-1] and lines[-1].startswith("Error: ") and "Traceback" not in err
    assert all(line.startswith("skipped: ") for line in lines[:-1])  # unreadable files are each named
    assert len(lines) == (3 if setup == "all_corrupt" else 1)
    assert not (tmp_path / "m").exists()


def test_fit_with_real_defects_records_them(golden_dir: Path, tmp_path: Path) -> None:
    for i in range(3):
        write_rgb(tmp_path / "defects" / f"d{i}.png", draw_part(300 + i, scratch=True))
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--defects", str(tmp_path / "defects"),
                       "--no-onnx", *FAST_FIT)
    assert code == 0, err
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    assert record["training"]["defects"]["count"] == 3 and record["holdout"]["defects"] == 3


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("empty", ": folder is empty"),
        ("size", "/d0.png: defect image is 96x96 but the golden images are 128x128; use images from the same camera"),
        ("channels", "/d0.png: defect image has 1 channel(s) but the golden images have 3"),
    ],
)
def test_bad_defects_folder_is_one_line(golden_dir: Path, tmp_path: Path, setup: str, message: str) -> None:
    folder = tmp_path / "defects"
    folder.mkdir()
    part = draw_part(300, scratch=True)
    if setup == "size":
        write_rgb(folder / "d0.png", part[:96, :96])
    elif setup == "channels":
        import cv2

        assert cv2.imwrite(str(folder / "d0.png"), part[..., 0])
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--defects", str(folder), *FAST_FIT)
    assert code == 2 and err.strip().splitlines() == [f"Error: {folder}{message}"]
    assert not (tmp_path / "m").exists()


def test_knn_needs_k_other_golden_images_and_says_so_before_training(golden_dir: Path, tmp_path: Path) -> None:
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--k", "7", "--augment", "none", *FAST_FIT)
    assert code == 2 and "found 12, need at least 13 (8 to train and 5 held out" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "m").exists()
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--k", "7", *FAST_FIT)  # augmentation grows the set
    assert code == 0 and "(12 images)" in err  # 60 after growth, 12 of them held out


def test_tile_size_that_does_not_fit_the_frame_is_one_line(golden_dir: Path, tmp_path: Path) -> None:
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--frame-size", "300", *FAST_FIT)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "128-pixel tiles do not fit a 300-pixel frame" in err and not (tmp_path / "m").exists()


def test_single_golden_image_is_grown_by_augmentation(tmp_path: Path) -> None:
    folder = tmp_path / "one"
    write_rgb(folder / "only.png", draw_part(0))
    code, _, err = run("fit", str(folder), "-o", str(tmp_path / "m"), "--no-onnx", *FAST_FIT[:-1])
    assert code == 0, err
    assert "only 1 golden image(s); grown to 60 with augmentation 'jitter'" in err
    holdout = json.loads((tmp_path / "m" / "model.json").read_text())["holdout"]
    assert holdout["expanded_from"] == 1 and holdout["count"] == 12 and holdout["train_count"] == 48


def test_fit_skips_unreadable_golden_files_and_records_them(tmp_path: Path) -> None:
    folder = tmp_path / "golden"
    for i in range(11):
        write_rgb(folder / f"p{i:02d}.png", draw_part(i))
    (folder / "zero.png").write_bytes(b"")
    code, _, err = run("fit", str(folder), "-o", str(tmp_path / "m"), "--no-onnx", *FAST_FIT)
    assert code == 0, err
    assert f"skipped: {folder / 'zero.png'}: file is empty (0 bytes)" in err
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    assert record["training"]["count"] == 11 and record["training"]["skipped"][0]["path"].endswith("zero.png")


def test_grayscale_golden_gives_one_channel_model(tmp_path: Path) -> None:
    import cv2

    folder = tmp_path / "gray"
    folder.mkdir()
    for i in range(10):
        cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(draw_part(i), cv2.COLOR_RGB2GRAY))
    code, _, err = run("fit", str(folder), "-o", str(tmp_path / "m"), "--no-onnx", *FAST_FIT)
    assert code == 0, err
    assert json.loads((tmp_path / "m" / "model.json").read_text())["config"]["preprocess"]["channels"] == 1
    # colour images are converted to the model's channels when scored
    code, out, _ = run("score", str(folder), "-m", str(tmp_path / "m"), "--csv", "-", "--radius", "1e6")
    rows = read_csv(out)
    assert len(rows) == 10 and code == 0 and all(float(r["distance"]) >= 0 for r in rows)  # all scored, all inside


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: None, "model directory does not exist"),
        (lambda d: d.mkdir(), "model.json: missing"),
        (lambda d: (d.mkdir(), (d / "model.json").write_text('{"kind": "model", "format_version": 99}')),
         "model format version 99"),
        (lambda d: (d.mkdir(), (d / "model.json").write_text("{not json")), "unreadable"),
    ],
)
def test_score_bad_model_dir(tmp_path: Path, incoming_dir: Path, make: object, message: str) -> None:
    model = tmp_path / "model"
    make(model)  # type: ignore[operator]
    code, _, err = run("score", str(incoming_dir), "-m", str(model), "--backend", "torch")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_roi_that_fits_no_image_is_one_line(golden_dir: Path, tmp_path: Path) -> None:
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--roi", "0,0,500,500", *FAST_FIT)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no image could be preprocessed, e.g." in err and "does not fit in a 128x128 image" in err


def test_pretrain_then_fit_with_pretrained(golden_dir: Path, tmp_path: Path) -> None:
    code, _, err = run("pretrain", str(golden_dir), "-o", str(tmp_path / "ae"), "--seed", "5", *FAST_PRETRAIN)
    assert code == 0, err
    ae_history = json.loads((tmp_path / "ae" / "autoencoder.json").read_text())["history"]
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--pretrained", str(tmp_path / "ae"),
                       "--no-onnx", *FAST_FIT)
    assert code == 0, err
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    assert record["training"]["pretrained"] == str(tmp_path / "ae")
    assert [h["stage"] for h in record["history"]] == ["pretrain"] * 2 + ["svdd"] * 2
    # the autoencoder used is the one pretrained with seed 5 (a fit pretraining itself would use seed 0)
    assert [h["loss"] for h in record["history"][:2]] == [h["loss"] for h in ae_history]
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m3"), "--no-onnx", *FAST_FIT)
    assert [h["loss"] for h in json.loads((tmp_path / "m3" / "model.json").read_text())["history"][:2]] != [
        h["loss"] for h in ae_history]  # which the comparison above would tell apart
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m2"), "--pretrained", str(tmp_path / "ae"),
                       "--rep-dim", "64", *FAST_FIT)
    assert code == 2 and "pretrained with other input or network settings" in err


def test_help_documents_exit_codes() -> None:
    code, out, _ = run("score", "--help")
    assert code == 0 and "3  at least one image could not be read" in out


def test_score_varied_images_not_all_equal(model_dir: Path, tmp_path: Path) -> None:
    """Collapse guard: a fitted model must not map everything to one point."""
    for i in range(4):
        rng = np.random.default_rng(i)
        write_rgb(tmp_path / "v" / f"{i}.png", rng.integers(0, 256, (128, 128, 3), dtype=np.uint8))
    _, out, _ = run("score", str(tmp_path / "v"), "-m", str(model_dir), "--csv", "-")
    distances = [float(r["distance"]) for r in read_csv(out)]
    assert np.std(distances) > 1e-3 * np.mean(distances)


def test_images_unlike_the_golden_ones_are_scored_with_a_warning(model_dir: Path, tmp_path: Path) -> None:
    record = json.loads((model_dir / "model.json").read_text())
    assert record["training"]["golden_format"] == {"min_size": [128, 128], "max_size": [128, 128], "channels": [3]}
    folder = tmp_path / "odd"
    write_rgb(folder / "a_same.png", draw_part(1))
    for i in range(3):
        write_rgb(folder / f"b_thumb_{i}.png", draw_part(2, size=64))
    gray = cv2.cvtColor(draw_part(3), cv2.COLOR_RGB2GRAY)
    assert cv2.imwrite(str(folder / "c_gray.png"), gray)
    for backend in ("onnx", "torch"):
        code, out, err = run("score", str(folder), "-m", str(model_dir), "--backend", backend, "--csv", "-",
                             "--radius", "1e-9")
        rows = read_csv(out)
        assert len(rows) == 5 and {r["verdict"] for r in rows} == {"fail"} and code == 1  # scored all the same
        warnings = [line for line in err.splitlines() if line.startswith("warning:")]
        assert warnings == [
            f"warning: {folder / 'b_thumb_0.png'}: 64x64 pixels but the golden images were 128x128; "
            "scores may be meaningless",
            f"warning: {folder / 'c_gray.png'}: gray image but the golden images were colour; scores may be meaningless",
            "warning: 3 images in all differ from the golden images in size",
        ], backend


def test_info_describes_a_model_and_its_onnx_pairing(model_dir: Path, tmp_path: Path) -> None:
    import shutil

    code, out, _ = run("info", str(model_dir))
    lines = dict(line.split(":", 1) for line in out.splitlines())
    assert code == 0 and set(lines) >= {"model", "data", "input", "training", "scoring", "radius", "held out",
                                         "fit time", "versions", "fingerprint", "onnx"}
    record = json.loads((model_dir / "model.json").read_text())
    assert str(record["radius"]) in lines["radius"] and "12 golden images" in lines["data"]
    assert "belongs to model.json" in lines["onnx"]
    chosen = record["selection"]["chosen"]  # what fit chose, among every candidate it judged
    assert "chosen by fit on 5 held-out golden images and 120 validation defects" in lines["scoring"]
    assert all(r["candidate"] in lines["scoring"] for r in record["selection"]["candidates"]) and chosen in lines["scoring"]
    assert "optimisation steps" in lines["training"]
    copy = tmp_path / "m"
    shutil.copytree(model_dir, copy)
    (copy / "model.json").write_text(json.dumps(record | {"fingerprint": "0" * 64}))
    assert "MISMATCH" in dict(line.split(":", 1) for line in run("info", str(copy))[1].splitlines())["onnx"]
    code, _, err = run("info", str(tmp_path / "nothing"))
    assert code == 2 and err.strip() == f"Error: {tmp_path / 'nothing'}: model directory does not exist"


def test_fit_config_file_sets_every_field_and_options_override_it(golden_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "fit.yaml"
    config.write_text("preprocess: {image_size: 64, channels: 1}\n"
                      "net: {widths: [8, 16, 16], rep_dim: 32, init: xavier}\n"  # not reachable by options
                      "train: {ae_epochs: 1, epochs: 5, augment_factor: 1, batch_size: 8, ae_loss: image-sum, eps: 0.2,\n"
                      "        ae_min_steps: 0, min_steps: 0}\n"
                      "score: {rule: mahalanobis}\n")
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--config", str(config), "--epochs", "2",
                       "--no-onnx", "-q")
    assert code == 0, err
    cfg = json.loads((tmp_path / "m" / "model.json").read_text())["config"]
    assert cfg["preprocess"]["image_size"] == 64 and cfg["preprocess"]["channels"] == 1
    assert cfg["net"] == {**cfg["net"], "widths": [8, 16, 16], "rep_dim": 32, "init": "xavier"}
    assert cfg["train"]["epochs"] == 2 and cfg["train"]["ae_loss"] == "image-sum" and cfg["train"]["eps"] == 0.2
    assert cfg["score"]["rule"] == "mahalanobis"


@pytest.mark.parametrize(("text", "message"), [
    ("train: {epoch: 3}\n", "unknown TrainConfig settings: epoch"),
    ("train: {epochs: 0}\n", "epochs, batch size and augment factor must be positive"),
    ("model: {}\n", "a config file holds the sections preprocess, net, train, score, local only"),
    ("train: [1, 2\n", "not valid YAML"),
])
def test_bad_fit_config_file_is_one_line(golden_dir: Path, tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "fit.yaml"
    config.write_text(text)
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--config", str(config))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"Error: {config}: ") and message in err and not (tmp_path / "m").exists()


def test_evaluate_writes_metrics_and_labelled_scores(model_dir: Path, incoming_dir: Path, tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    code, _, err = run("evaluate", str(incoming_dir), "-m", str(model_dir), "-o", str(tmp_path / "ev"))
    assert code == 3, err  # zz_corrupt.png is unreadable: listed, left out of the metrics
    rows = read_csv((tmp_path / "ev" / "scores.csv").read_text())
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert len(rows) == 7 and {r["label"] for r in rows} == {"good", "scratch"}
    scored = [r for r in rows if r["verdict"] != "error"]
    auroc = roc_auc_score([r["label"] != "good" for r in scored], [float(r["score"]) for r in scored])
    assert metrics["auroc"] == pytest.approx(auroc) and metrics["per_type"]["scratch"]["count"] == 3
    assert [u["path"] for u in metrics["unreadable"]] == [str(incoming_dir / "scratch" / "zz_corrupt.png")]
    assert metrics["confusion"]["good_passed"] + metrics["confusion"]["good_rejected"] == 3
    page = (tmp_path / "ev" / "report.html").read_text()
    assert f"{metrics['auroc']:.4g}" in page and "<td>scratch</td>" in page
    for section in ("<h2>Model</h2>", "ROC and precision-recall curves", "score histograms", "training loss",
                    "Most anomalous good parts", "Least anomalous defective parts", "Heat maps of the failures"):
        assert section in page, section
    failed = [r for r in rows if r["verdict"] == "fail"]
    assert len(list((tmp_path / "ev" / "heatmaps").rglob("*.png"))) == len(failed)
    assert "localisation" not in metrics  # no ground_truth/ beside the folder
    code, _, err = run("evaluate", str(incoming_dir / "good"), "-m", str(model_dir), "-o", str(tmp_path / "ev2"))
    assert code == 2 and "a labelled image must sit in good/ or in a folder named after its defect type" in err


def _labelled_with_masks(root: Path) -> Path:
    """good/ and scratch/ parts with MVTec masks of the scratches (the part drawn with and without it)."""
    for i in range(3):
        write_rgb(root / "test" / "good" / f"good_{i}.png", draw_part(100 + i))
        scratched, plain = draw_part(200 + i, scratch=True), draw_part(200 + i)
        write_rgb(root / "test" / "scratch" / f"s_{i}.png", scratched)
        mask = (np.abs(scratched.astype(int) - plain).max(axis=2) > 0).astype(np.uint8) * 255
        (root / "ground_truth" / "scratch").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "ground_truth" / "scratch" / f"s_{i}_mask.png"), mask)
    return root


def test_evaluate_measures_localisation_where_masks_exist(model_dir: Path, tmp_path: Path) -> None:
    labelled = _labelled_with_masks(tmp_path / "ds")
    code, _, err = run("evaluate", str(labelled), "-m", str(model_dir), "-o", str(tmp_path / "ev"))
    assert code == 0, err
    local = json.loads((tmp_path / "ev" / "metrics.json").read_text())["localisation"]
    assert local["method"] == "occlusion" and local["defects"] == 3
    assert local["hottest_region_hits"] >= 2 / 3 and local["hottest_region_area"] < 0.2  # measured: 1.0, 0.03
    assert local["pixel_auroc"] > 0.75  # measured: 0.98 (Grad-CAM: hits 1.0 but its region is the whole image)
    assert list(local["per_type"]) == ["scratch"] and local["per_type"]["scratch"]["defects"] == 3
    assert local["per_type"]["scratch"]["pixel_auroc"] == pytest.approx(local["pixel_auroc"])  # one type: the same pool
    report = (tmp_path / "ev" / "report.html").read_text()
    assert "Localisation (occlusion)" in report and "<td>scratch</td><td>3</td>" in report


def test_evaluate_bad_label_folders_are_one_line(model_dir: Path, incoming_dir: Path, tmp_path: Path) -> None:
    import shutil

    only_good = tmp_path / "only_good"
    shutil.copytree(incoming_dir / "good", only_good / "good")
    code, _, err = run("evaluate", str(only_good), "-m", str(model_dir), "-o", str(tmp_path / "o"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no a defect folder" not in err and "no defect folder" in err and "calibrate --target-frr" in err
    (only_good / "dent").mkdir()
    code, _, err = run("evaluate", str(only_good), "-m", str(model_dir), "-o", str(tmp_path / "o"))
    assert code == 2 and err.strip() == (f"Error: {only_good / 'dent'}: label folder holds no images; "
                                         "add its images or remove the folder")
    no_good = tmp_path / "no_good"
    shutil.copytree(incoming_dir / "good", no_good / "scratch")
    code, _, err = run("evaluate", str(no_good), "-m", str(model_dir), "-o", str(tmp_path / "o"))
    assert code == 2 and "no good/" in err and len(err.strip().splitlines()) == 1


def test_calibrate_rewrites_both_files_and_both_backends_agree(model_dir: Path, incoming_dir: Path,
                                                                tmp_path: Path) -> None:
    import shutil

    model = tmp_path / "m"
    shutil.copytree(model_dir, model)
    code, _, err = run("calibrate", str(incoming_dir), "-m", str(model), "--max-escape", "0.0")
    assert code == 0, err
    record = json.loads((model / "model.json").read_text())
    cal = record["calibration"]
    assert cal["how"]["rule"] == "max-escape" and cal["after"]["escape_rate"] == 0.0 and cal["defects"] == 3
    meta = {p.key: p.value for p in __import__("onnx").load(str(model / "model.onnx")).metadata_props}
    assert float(meta["inspect_svdd.radius"]) == record["radius"] != cal["radius_before"]
    assert meta["inspect_svdd.fingerprint"] == record["fingerprint"]
    verdicts = {}
    for backend in ("onnx", "torch"):
        _, out, _ = run("score", str(incoming_dir), "-m", str(model), "--backend", backend, "--csv", "-")
        verdicts[backend] = [r["verdict"] for r in read_csv(out)]
    assert verdicts["onnx"] == verdicts["torch"]
    assert all(v == "fail" for r, v in zip(read_csv(out), verdicts["torch"], strict=True) if "/scratch/" in r["path"]
               and not r["path"].endswith("zz_corrupt.png"))
    code, _, err = run("calibrate", str(incoming_dir / "good"), "-m", str(model), "--target-frr", "0.01")
    assert code == 0 and "false reject rate" in err  # good images only: fine for a false-reject target
    record = json.loads((model / "model.json").read_text())
    cal = record["calibration"]
    assert cal["how"]["rule"] == record["config"]["train"]["radius_rule"] and cal["how"]["target_frr"] == 0.01
    assert cal["good"] == 3 and cal["defects"] == 0 and cal["radius_after"] == record["radius"]
    meta = {p.key: p.value for p in __import__("onnx").load(str(model / "model.onnx")).metadata_props}
    assert float(meta["inspect_svdd.radius"]) == record["radius"] and meta["inspect_svdd.fingerprint"] == record["fingerprint"]
    code, _, err = run("calibrate", str(incoming_dir / "good"), "-m", str(model), "--f1")
    assert code == 2 and err.strip() == ("Error: --f1 needs good images and defective ones (good/ and a defect folder); "
                                         "with good images only, use --target-frr")
    code, _, err = run("calibrate", str(incoming_dir), "-m", str(model))
    assert code == 2 and "give exactly one of --target-frr, --max-escape, --f1" in err


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_failed_calibrate_leaves_the_model_folder_byte_identical(model_dir: Path, incoming_dir: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from inspect_svdd.deploy import export
    from inspect_svdd.errors import ExportError

    model = tmp_path / "m"
    shutil.copytree(model_dir, model)
    before = _folder_bytes(model)

    def failing(*_: object, **__: object) -> float:
        raise ExportError("forced parity failure")

    monkeypatch.setattr(export, "check_parity", failing)
    code, _, err = run("calibrate", str(incoming_dir), "-m", str(model), "--max-escape", "0.0")
    assert code == 2 and "forced parity failure" in err and "Traceback" not in err
    assert _folder_bytes(model) == before  # new radius, weights and ONNX file all left aside, then dropped
    code, _, err = run("fit", str(incoming_dir / "good"), "-o", str(model), *FAST_FIT)
    assert code == 2 and "forced parity failure" in err
    after = _folder_bytes(model)
    after.pop("checkpoint.pt")  # the finished training is kept for --resume; the model files are untouched
    assert after == before  # a refit whose export fails changes nothing either


def test_weights_that_do_not_belong_to_model_json_are_refused(model_dir: Path, golden_dir: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other"
    code, _, err = run("fit", str(golden_dir), "-o", str(other), "--seed", "1", "--no-onnx", *FAST_FIT)
    assert code == 0, err
    model = tmp_path / "m"
    shutil.copytree(model_dir, model)
    shutil.copy(other / "encoder.pt", model / "encoder.pt")  # copied weights beside the old centre and radius
    code, _, err = run("score", str(golden_dir), "-m", str(model), "--backend", "torch", "--csv", "-")
    assert code == 2 and "do not belong to model.json" in err



def test_score_writes_heatmaps_of_failed_images(model_dir: Path, incoming_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "heat"
    code, stdout, err = run("score", str(incoming_dir), "-m", str(model_dir), "--csv", "-", "--radius", "0",
                            "--heatmaps", str(out))
    rows = read_csv(stdout)
    assert code == 3, err
    assert list(rows[0])[-1] == "heatmap"
    for r in rows:
        if r["verdict"] == "error":
            assert r["heatmap"] == ""
            continue
        picture = cv2.imread(r["heatmap"])  # every image fails at radius 0: each has its overlay, same size
        assert picture is not None and picture.shape == (128, 128, 3)
        assert Path(r["heatmap"]).relative_to(out).parts[0] == Path(r["path"]).parent.name  # incoming's folders kept
    code, stdout, _ = run("score", str(incoming_dir / "good"), "-m", str(model_dir), "--csv", "-", "--radius", "1e6",
                          "--heatmaps", str(tmp_path / "none"))
    assert code == 0 and {r["heatmap"] for r in read_csv(stdout)} == {""} and not (tmp_path / "none").exists()


def test_heatmaps_agree_between_onnx_and_torch(model_dir: Path, incoming_dir: Path) -> None:
    from inspect_svdd.deploy.backends import open_backend
    from inspect_svdd.evaluate.heatmaps import HeatMapper

    source = incoming_dir / "scratch" / "scratch_0.png"
    heats = [HeatMapper(open_backend(model_dir, b, "cpu", None)).of_file(source)[1] for b in ("onnx", "torch")]
    assert heats[0].max() > 0.05 and np.abs(heats[0] - heats[1]).max() < 1e-3 * heats[0].max()


def test_heatmap_requests_a_backend_cannot_serve_are_one_line(model_dir: Path, incoming_dir: Path,
                                                              tmp_path: Path) -> None:
    import shutil

    code, out, err = run("score", str(incoming_dir), "-m", str(model_dir), "--backend", "onnx",
                         "--heatmaps", str(tmp_path / "h"), "--heatmap-method", "gradcam")
    assert code == 2 and out == "" and err.strip() == (
        "Error: Grad-CAM needs PyTorch: use --backend torch, or --heatmap-method occlusion (works through ONNX Runtime)")
    no_onnx = tmp_path / "m"
    shutil.copytree(model_dir, no_onnx)
    (no_onnx / "model.onnx").unlink()
    code, _, err = run("score", str(incoming_dir), "-m", str(no_onnx), "--backend", "onnx", "--heatmaps", str(tmp_path / "h"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no ONNX file" in err and not (tmp_path / "h").exists()


@pytest.mark.parametrize(("option", "value"), [("--target-frr", "0.34"), ("--max-escape", "0.0"), ("--f1", None)])
def test_evaluate_after_calibrate_meets_the_target_on_the_calibration_set(
        model_dir: Path, incoming_dir: Path, tmp_path: Path, option: str, value: str | None) -> None:
    import shutil

    model = tmp_path / "m"
    shutil.copytree(model_dir, model)
    code, _, err = run("calibrate", str(incoming_dir), "-m", str(model), option, *([value] if value else []))
    assert code == 0, err
    verdicts = {b: [r["verdict"] for r in read_csv(run("score", str(incoming_dir), "-m", str(model), "--backend", b,
                                                       "--csv", "-")[1])] for b in ("onnx", "torch")}
    assert verdicts["onnx"] == verdicts["torch"]
    code, _, err = run("evaluate", str(incoming_dir), "-m", str(model), "-o", str(tmp_path / "ev"), "--no-heatmaps")
    assert code == 3, err  # incoming_dir holds one corrupt file: evaluated all the same, exit 3 says so
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    calibration = json.loads((model / "model.json").read_text())["calibration"]
    assert metrics["radius"] == pytest.approx(calibration["radius_after"])
    if option == "--target-frr":  # 3 good images: at most one rejected
        assert metrics["false_reject_rate"] <= 0.34
    elif option == "--max-escape":
        assert metrics["escape_rate"] == 0.0
    else:
        assert metrics["f1"] == pytest.approx(metrics["f1_max"])


def test_recipe_run_and_evaluate_give_the_same_auroc_on_the_same_model_and_split(
        golden_dir: Path, incoming_dir: Path, tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "parts"
    shutil.copytree(golden_dir, data / "train" / "good")
    shutil.copytree(incoming_dir, data / "test", ignore=shutil.ignore_patterns("zz_corrupt.png"))
    for i in range(3):  # "defects" that are good parts: an AUROC between 0 and 1 whose exact value must agree
        write_rgb(data / "test" / "unmarked" / f"u_{i}.png", draw_part(300 + i))
    recipe = tmp_path / "parts.yaml"
    recipe.write_text(f"name: parts\ndataset: folder\nfolder: {data}\n"
                      "settings:\n  quick: {train: {ae_epochs: 2, epochs: 2, augment_factor: 1, batch_size: 8}}\n")
    code, _, err = run("recipe", "run", str(recipe), "-o", str(tmp_path / "results"), "--save-models",
                       str(tmp_path / "models"), "-q")
    assert code == 0, err
    (recipe_run,) = json.loads((tmp_path / "results" / "parts-quick-full.json").read_text())["runs"]
    code, _, err = run("evaluate", str(data), "-m", str(tmp_path / "models" / "all-seed0"), "-o", str(tmp_path / "ev"),
                       "--no-heatmaps")
    assert code == 0, err
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["count"] == recipe_run["test_count"] == 9
    assert 0.5 < metrics["auroc"] < 1 and metrics["auroc"] == pytest.approx(recipe_run["auroc"], abs=1e-9)
    assert metrics["per_type"] == recipe_run["groups"]  # the runner's per-type table is evaluate's
    assert metrics["escape_rate"] == recipe_run["test_escape_rate"]


def test_fit_resume_after_an_interrupt_gives_the_straight_fits_model(model_dir: Path, golden_dir: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from inspect_svdd.model.checkpoint import Checkpoint

    original = Checkpoint.save

    def save_then_interrupt(self: Checkpoint, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        if args[:2] == ("pretrain", 2):
            raise KeyboardInterrupt

    out = tmp_path / "m"
    with monkeypatch.context() as patch:
        patch.setattr(Checkpoint, "save", save_then_interrupt)
        code, _, err = run("fit", str(golden_dir), "-o", str(out), *FAST_FIT)
    assert code == 130 and "--resume" in err and (out / "checkpoint.pt").is_file() and not (out / "model.json").exists()
    code, _, err = run("fit", str(golden_dir), "-o", str(out), *FAST_FIT, "--resume")
    assert code == 0, err
    assert not (out / "checkpoint.pt").exists()
    resumed, straight = (json.loads((d / "model.json").read_text()) for d in (out, model_dir))
    assert resumed["fingerprint"] == straight["fingerprint"]  # sha256 of the weights, centre and radius
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in straight["history"]]


def test_reduced_decoding_is_recorded_and_both_backends_follow_it(tmp_path: Path) -> None:
    from inspect_svdd.deploy.runtime import OnnxScorer

    for i in range(12):
        write_rgb(tmp_path / "golden" / f"p_{i:02d}.jpg", draw_part(i, size=512))
    for i in range(3):
        write_rgb(tmp_path / "in" / f"s_{i}.jpg", draw_part(200 + i, scratch=True, size=512))
    code, _, err = run("fit", str(tmp_path / "golden"), "-o", str(tmp_path / "m"), *FAST_FIT, "--decode", "reduced")
    assert code == 0, err
    assert json.loads((tmp_path / "m" / "model.json").read_text())["config"]["preprocess"]["decode"] == "reduced"
    assert OnnxScorer(tmp_path / "m" / "model.onnx").preprocess.decode == "reduced"
    out = {b: read_csv(run("score", str(tmp_path / "in"), "-m", str(tmp_path / "m"), "--backend", b, "--csv", "-")[1])
           for b in ("onnx", "torch")}
    for a, b in zip(out["onnx"], out["torch"], strict=True):
        assert float(a["distance"]) == pytest.approx(float(b["distance"]), rel=1e-4)
    assert_same_verdicts(out["onnx"], out["torch"])
    code, _, err = run("fit", str(tmp_path / "golden"), "-o", str(tmp_path / "m2"), "--decode", "sometimes")
    assert code == 2 and "'sometimes' is not one of 'full', 'reduced'" in err


def test_resnet18_fits_exports_with_parity_and_both_backends_agree(golden_dir: Path, incoming_dir: Path,
                                                                   tmp_path: Path) -> None:
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), *FAST_FIT, "--architecture", "resnet18")
    assert code == 0 and "model.onnx parity" in err, err  # fit refuses an ONNX file that disagrees with PyTorch
    assert json.loads((tmp_path / "m" / "model.json").read_text())["config"]["net"]["architecture"] == "resnet18"
    rows = {b: read_csv(run("score", str(incoming_dir), "-m", str(tmp_path / "m"), "--backend", b, "--csv", "-")[1])
            for b in ("onnx", "torch")}
    assert [r["verdict"] for r in rows["onnx"]] == [r["verdict"] for r in rows["torch"]]


def test_rotation_task_through_the_cli_is_recorded_and_exports_as_usual(golden_dir: Path, tmp_path: Path) -> None:
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), *FAST_FIT, "--rotation-weight", "0.5")
    assert code == 0 and "model.onnx parity" in err, err  # the head is dropped: the same graph as any model
    model = json.loads((tmp_path / "m" / "model.json").read_text())
    assert model["config"]["train"]["rotation_weight"] == 0.5
    assert "rotation_accuracy" in model["history"][-1]
    code, out, _ = run("info", str(tmp_path / "m"))
    assert code == 0 and "rotation weight 0.5" in out


def test_fit_judges_the_scorers_on_real_defects_when_given(golden_dir: Path, incoming_dir: Path, tmp_path: Path) -> None:
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--validate", str(incoming_dir), "--no-onnx",
                       *FAST_FIT[:-1])
    assert code == 0, err
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    judged = record["selection"]["judged_on"]
    assert judged["families"] == ["real"] and judged["defects"] == 3  # the scratches; good/ and the corrupt file skipped
    assert record["training"]["validation"]["count"] == 3 and "scorer:" in err and "skipped:" in err
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "n"), "--validate", str(incoming_dir / "good" / ".."
                                                                                             / "nothing"), *FAST_FIT)
    assert code == 2 and "nothing" in err and "Traceback" not in err


def test_explicit_score_or_features_switch_selection_off(model_dir: Path, golden_dir: Path, tmp_path: Path) -> None:
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--features", "stages", "--no-onnx", *FAST_FIT)
    assert code == 0, err
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    assert record["config"]["score"]["rule"] == "knn" and record["config"]["score"]["features"] == "stages"
    assert "candidates" not in record["selection"] and "scorer:" not in err  # no scorer selection ran
    assert record["selection"]["model_kind"]["decided_by"] == "options"  # and --features meant the global model


@pytest.mark.parametrize(("option", "value"), [("--lr", "-1"), ("--weight-decay", "-1"), ("--ae-lr", "0")])
def test_bad_optimiser_settings_are_one_line_before_any_training(golden_dir: Path, tmp_path: Path, option: str,
                                                                 value: str) -> None:
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), option, value, *FAST_FIT)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "learning rates must be > 0" in err
    assert not (tmp_path / "m").exists()  # refused before pretraining ran


def test_a_batch_size_below_one_is_refused(model_dir: Path, incoming_dir: Path) -> None:
    for value in ("0", "-3"):
        code, out, err = run("score", str(incoming_dir), "-m", str(model_dir), "--batch-size", value, "--csv", "-")
        assert code == 2 and out == "" and "--batch-size" in err and "Traceback" not in err


def test_options_valid_only_with_the_config_file_are_merged_before_checking(golden_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "fit.yaml"
    config.write_text("preprocess: {image_size: 64}\n")
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--config", str(config), "--frame-size", "192",
                       "--no-onnx", *FAST_FIT)
    assert code == 0, err  # 64-pixel tiles in a 192-pixel frame: refused before the merge (issue 24, point 1)
    pre = json.loads((tmp_path / "m" / "model.json").read_text())["config"]["preprocess"]
    assert (pre["image_size"], pre["frame_size"]) == (64, 192)
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "n"), "--config", str(config), "--frame-size", "100",
                       *FAST_FIT)
    assert code == 2 and "64-pixel tiles do not fit a 100-pixel frame" in err  # still checked, once, after the merge


def test_resume_with_another_pretrained_autoencoder_is_refused(golden_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from inspect_svdd.model.checkpoint import Checkpoint

    for name, seed in (("ae1", "1"), ("ae2", "2")):
        code, _, err = run("pretrain", str(golden_dir), "-o", str(tmp_path / name), "--seed", seed, *FAST_PRETRAIN)
        assert code == 0, err
    save = Checkpoint.save

    def save_then_stop(self: Checkpoint, stage: str, epoch: int, *args: object) -> None:
        save(self, stage, epoch, *args)  # type: ignore[arg-type]
        if stage == "svdd" and self.path.is_file():
            raise KeyboardInterrupt  # Ctrl-C once the first Deep SVDD checkpoint is on disk

    monkeypatch.setattr(Checkpoint, "save", save_then_stop)
    fast = [a for a in FAST_FIT if a != "-q"]
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--pretrained", str(tmp_path / "ae1"),
                       "--no-onnx", *fast)
    assert code == 130 and (tmp_path / "m" / "checkpoint.pt").is_file(), err
    monkeypatch.setattr(Checkpoint, "save", save)
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--pretrained", str(tmp_path / "ae2"),
                       "--resume", "--no-onnx", *fast)
    assert code == 2 and "checkpoint of another fit" in err  # the state trained from ae1 is not continued with ae2
    code, _, err = run("fit", str(golden_dir), "-o", str(tmp_path / "m"), "--pretrained", str(tmp_path / "ae1"),
                       "--resume", "--no-onnx", *fast)
    assert code == 0 and "resuming from" in err  # the same autoencoder resumes
