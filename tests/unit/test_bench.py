"""Benchmark pieces: CIFAR-10 reader on a fixture pickle, one-class splits, GCN adapter, baselines, tables, resume."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from inspect_svdd.bench.baselines import baseline_scores
from inspect_svdd.bench.data import LabelledSet, load_torchvision, one_class_split, with_known_anomalies
from inspect_svdd.bench.recipe import load_recipe
from inspect_svdd.bench.runner import RecipeRunner, RunOptions, at_boundary, merge_documents
from inspect_svdd.bench.tables import markdown, write_reports
from inspect_svdd.config import NetConfig
from inspect_svdd.errors import ConfigError, DatasetError
from inspect_svdd.model.nets import Encoder, GcnAdapter


def _write_cifar(root: Path, per_batch: int = 4) -> np.ndarray:
    """torchvision's cifar-10-batches-py layout, tiny: row-major CHW rows, latin1 pickles."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    first = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3 * 32 * 32), dtype=np.uint8)
        first = data if first is None else first
        with (folder / name).open("wb") as fh:
            pickle.dump({"data": data, "labels": [i % 10 for i in range(per_batch)]}, fh)
    with (folder / "batches.meta").open("wb") as fh:
        names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        pickle.dump({"label_names": names}, fh)
    assert first is not None
    return first


def test_cifar_reader_on_a_fixture_file(tmp_path: Path) -> None:
    first = _write_cifar(tmp_path)
    data = load_torchvision("cifar10", tmp_path)
    assert data.train.shape == (20, 32, 32, 3) and data.test.shape == (4, 32, 32, 3)
    assert data.class_names[0] == "airplane" and list(data.train_labels[:4]) == [0, 1, 2, 3]
    # pixel (row 5, col 7) of the first image: R, G, B planes are 1024 apart in the row
    assert list(data.train[0, 5, 7]) == [first[0, 5 * 32 + 7], first[0, 1024 + 5 * 32 + 7], first[0, 2048 + 5 * 32 + 7]]


def test_cifar_paper_recipe_runs_end_to_end_on_a_fixture(tmp_path: Path) -> None:
    """The CIFAR-10 paper net (3 channels, code BatchNorm, dictionary first filters) through the CLI."""
    from click.testing import CliRunner

    from inspect_svdd.cli import main

    _write_cifar(tmp_path, per_batch=40)
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "cifar10.yaml"
    result = CliRunner().invoke(main, ["recipe", "run", str(recipe), "--size", "smoke", "--data-root", str(tmp_path),
                                       "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    (run,) = json.loads((tmp_path / "out" / "cifar10-paper-smoke.json").read_text())["runs"]
    assert (run["case"], run["train_count"], run["test_count"]) == ("0", 20, 40)
    assert run["config"]["net"]["first_filters"] == "dictionary" and 0 <= run["auroc"] <= 1


def test_deep_sad_setting_adds_labelled_anomalies_of_one_other_class(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from inspect_svdd.cli import main

    _write_cifar(tmp_path, per_batch=40)
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "cifar10.yaml"
    result = CliRunner().invoke(main, ["recipe", "run", str(recipe), "--setting", "deep-sad-1pct", "--size", "smoke",
                                       "--data-root", str(tmp_path), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    (run,) = json.loads((tmp_path / "out" / "cifar10-deep-sad-1pct-smoke.json").read_text())["runs"]
    assert run["known_anomalies"] == {"class": "automobile", "count": 1, "ratio": 0.01}  # 1 % beside 20 normal images
    assert run["trained_with_anomalies"] == 1  # and the fit pushed it away from c
    assert run["test_count"] == 40  # the test set is the one-class protocol's, unchanged


def test_known_anomalies_follow_the_ratio_and_walk_the_classes_by_seed() -> None:
    rng = np.random.default_rng(0)
    data = LabelledSet(rng.integers(0, 255, (200, 4, 4, 1), dtype=np.uint8), np.arange(200) % 5,
                       rng.integers(0, 255, (30, 4, 4, 1), dtype=np.uint8), np.arange(30) % 5, list("abcde"))
    split = with_known_anomalies(one_class_split(data, normal=4), data, 4, ratio=0.2, seed=0)
    assert split.facts["known_anomalies"] == {"class": "a", "count": 10, "ratio": 0.2}  # 40 normal: 10 is 20 % of 50
    assert split.known_anomalies is not None and len({a.tobytes() for a in split.known_anomalies}) == 10
    assert all((data.train[data.train_labels == 0] == a).all(axis=(1, 2, 3)).any() for a in split.known_anomalies)
    classes = {with_known_anomalies(one_class_split(data, 4), data, 4, 0.2, s).facts["known_anomalies"]["class"]  # type: ignore[index]
               for s in range(4)}
    assert classes == {"a", "b", "c", "d"}  # never the normal class


def test_known_anomalies_are_refused_for_a_folder_recipe(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("dataset: folder\nfolder: x\nsettings: {s: {known_anomalies: 0.01}}\n")
    with pytest.raises(ConfigError, match="known_anomalies must be in"):
        load_recipe(tmp_path / "r.yaml")


def test_cifar_missing_file_is_named(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match=r"data_batch_3: CIFAR-10 file missing"):
        load_torchvision("cifar10", tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="data_batch_3: not a CIFAR-10 batch file"):
        load_torchvision("cifar10", tmp_path)


def test_mnist_missing_is_an_error_not_a_download(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"missing or corrupt.*--download"):
        load_torchvision("mnist", tmp_path, cache=tmp_path / "cache")


def test_one_class_split_follows_the_protocol() -> None:
    rng = np.random.default_rng(0)
    data = LabelledSet(rng.integers(0, 255, (50, 4, 4, 1), dtype=np.uint8), np.arange(50) % 5,
                       rng.integers(0, 255, (30, 4, 4, 1), dtype=np.uint8), np.arange(30) % 5, list("abcde"))
    split = one_class_split(data, normal=2)
    assert len(split.train) == 10 and np.array_equal(split.train, data.train[data.train_labels == 2])
    assert len(split.test) == 30 and split.test_anomalous.sum() == 24 and split.test_groups[2] == "c"
    small = one_class_split(data, normal=2, train_limit=4, test_limit=10, seed=1)
    assert len(small.train) == 4 and len(small.test) == 10


def test_gcn_adapter_scales_training_images_to_unit_range_and_ignores_contrast() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 28, 28, 1), dtype=np.uint8)
    adapter = GcnAdapter(1)
    adapter.fit_stats(images)
    out = adapter(torch.from_numpy(images))
    assert float(out.min()) == pytest.approx(0.0, abs=1e-6) and float(out.max()) == pytest.approx(1.0, abs=1e-6)
    x = torch.from_numpy(images[:2]).float()
    assert torch.allclose(adapter(x), adapter(0.5 * x + 40), atol=1e-5)  # GCN removes brightness and contrast
    assert adapter.describe()["kind"] == "gcn-l1-minmax"


def test_gcn_stats_travel_in_the_state_dict() -> None:
    enc = Encoder(NetConfig(architecture="pooled", widths=(8, 4), rep_dim=32, input_norm="gcn-l1-minmax"), 1, 28)
    enc.adapter.fit_stats(np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1), dtype=np.uint8))
    state = enc.state_dict()
    assert {"adapter.low", "adapter.high"} <= set(state) and float(state["adapter.low"]) < 0
    assert not any(name.endswith("bias") for name in state)


@pytest.mark.parametrize("name", ["isolation-forest", "ocsvm"])
def test_baselines_score_outliers_higher_and_above_zero_outside_their_boundary(name: str) -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, (200, 5))
    test = np.vstack([rng.normal(0, 1, (50, 5)), rng.normal(6, 1, (50, 5))])
    scores = baseline_scores(name, train, test, seed=0)
    assert roc_auc_score([0] * 50 + [1] * 50, scores) > 0.95
    verdicts = at_boundary(np.arange(100) >= 50, scores)  # the method's own boundary: 0
    assert verdicts["recall"] == 1.0 and verdicts["precision"] > 0.7, verdicts


def _doc(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"recipe": "mnist", "setting": "paper", "size": "full", "paper_auroc": {"0": 98.0, "1": 99.7}, "runs": runs}


def test_markdown_reports_mean_and_std_over_seeds_beside_the_paper(tmp_path: Path) -> None:
    runs = [{"case": c, "seed": s, "auroc": a, "train_seconds": 60.0, "baselines": {"ocsvm/pixels": {"auroc": 0.9}}}
            for c, s, a in [("0", 0, 0.97), ("0", 1, 0.99), ("1", 0, 0.995), ("1", 1, 0.995)]]
    text = markdown(_doc(runs))
    assert "| 0 | 98.0 ± 1.0 | 90.0 ± 0.0 | 98.0 |" in text
    assert "| **mean** | 98.8 ± 0.8 | 90.0 ± 0.0 | 98.8 |" in text
    md, png = write_reports(_doc(runs), tmp_path / "r.json")
    assert md.read_text() == text and png.stat().st_size > 1000


def test_markdown_lists_every_scoring_rule_of_the_same_encoders() -> None:
    def rule(auroc: float, frr: float, escape: float, oracle: float) -> dict[str, float]:
        return {"auroc": auroc, "test_false_reject_rate": frr, "test_escape_rate": escape, "escape_at_2pct_test_frr": oracle}

    runs = [{"case": "0", "seed": s, "auroc": 0.9, "train_seconds": 1.0,
             "rules": {"knn": rule(0.9, 0.01, 0.5, 0.4), "center": rule(0.7 + 0.1 * s, 0.0, 0.9, 0.8)}} for s in (0, 1)]
    text = markdown(_doc(runs))
    assert "| knn | 90.0 ± 0.0 | 1.0 % | 50.0 % | 40.0 % |" in text
    assert "| center | 75.0 ± 5.0 | 0.0 % | 90.0 % | 80.0 % |" in text
    assert "scoring rule" not in markdown(_doc([{k: v for k, v in r.items() if k != "rules"} for r in runs]))


def test_runner_saves_each_run_and_resume_skips_finished_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "mnist.yaml")
    calls: list[tuple[str, int]] = []

    def fake_run_one(self: RecipeRunner, case: str, seed: int) -> dict[str, Any]:
        calls.append((case, seed))
        if case == "2":
            raise KeyboardInterrupt
        return {"case": case, "seed": seed, "auroc": 0.9, "train_seconds": 1.0}

    monkeypatch.setattr(RecipeRunner, "run_one", fake_run_one)
    options = RunOptions("paper", "full", ("0", "1", "2"), seeds=1, data_root=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        RecipeRunner(recipe, options, tmp_path).run()
    saved = json.loads((tmp_path / "mnist-paper-full.json").read_text())
    assert [r["case"] for r in saved["runs"]] == ["0", "1"]  # finished runs survive the interrupt
    monkeypatch.setattr(RecipeRunner, "run_one", lambda self, case, seed: {"case": case, "seed": seed, "auroc": 0.8,
                                                                            "train_seconds": 1.0})
    resumed = RecipeRunner(recipe, RunOptions("paper", "full", ("0", "1", "2"), 1, tmp_path, resume=True), tmp_path).run()
    assert [r["auroc"] for r in resumed["runs"]] == [0.9, 0.9, 0.8]


def test_merge_joins_parts_of_one_run_and_refuses_mixtures() -> None:
    a = _doc([{"case": "0", "seed": 0, "auroc": 0.97, "train_seconds": 1.0}])
    b = _doc([{"case": "1", "seed": 0, "auroc": 0.99, "train_seconds": 1.0}])
    merged = merge_documents([("a.json", a), ("b.json", b)])
    assert [r["case"] for r in merged["runs"]] == ["0", "1"]
    assert [p["cases"] for p in merged["merged_from"]] == [["0"], ["1"]]
    assert "| **mean** | 98.0 ± 1.0 | 98.8 |" in markdown(merged)
    with pytest.raises(DatasetError, match=r"b\.json: case 0 seed 0 is also in a\.json"):
        merge_documents([("a.json", a), ("b.json", a)])
    with pytest.raises(DatasetError, match=r"c\.json: differs from a\.json in setting"):
        merge_documents([("a.json", a), ("c.json", {**b, "setting": "toolkit"})])


def test_folder_recipes_keep_their_scoring_settings(tmp_path: Path) -> None:
    import cv2

    from tests.conftest import draw_part

    for folder, count, scratch in (("train/good", 6, False), ("test/good", 2, False), ("test/scratch", 2, True)):
        for i in range(count):
            (tmp_path / "set" / folder).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(tmp_path / "set" / folder / f"{i}.png"), draw_part(i, scratch))
    recipe_file = tmp_path / "set.yaml"
    recipe_file.write_text("name: set\ndataset: folder\nfolder: set\n"
                           "settings:\n  stages: {score: {rule: mahalanobis, features: stages, bank_views: 1}}\n")
    runner = RecipeRunner(load_recipe(recipe_file), RunOptions("stages", data_root=tmp_path), tmp_path)
    cfg = runner.recipe.config("stages", "full", 0)
    _, used = runner._split("all", cfg, 0)
    assert used.score == cfg.score and used.score.features == "stages"


def test_image_folder_reader_keeps_the_listed_order_and_rgb(tmp_path: Path) -> None:
    from inspect_svdd.bench.data import read_image_folder

    root = tmp_path / "cifar10"
    colours = {"cat": (200, 10, 10), "ship": (10, 10, 200)}  # RGB
    for split in ("train", "test"):
        for name, rgb in colours.items():
            for i in range(2):
                (root / split / name).mkdir(parents=True, exist_ok=True)
                image = np.full((32, 32, 3), rgb[::-1], np.uint8)  # OpenCV writes BGR
                cv2.imwrite(str(root / split / name / f"{name}_{i}.webp"), image, [cv2.IMWRITE_WEBP_QUALITY, 101])
    (root / "train_filenames.txt").write_text("ship_1.webp\ncat_0.webp\nship_0.webp\ncat_1.webp\n")
    data = read_image_folder(root)
    assert data.class_names == ["cat", "ship"] and list(data.train_labels) == [1, 0, 1, 0]
    assert tuple(data.train[1, 0, 0]) == (200, 10, 10) and data.train.shape == (4, 32, 32, 3)
    assert list(data.test_labels) == [0, 0, 1, 1]  # no list: class by class, sorted names
    assert load_torchvision("cifar10", tmp_path).train.shape == (4, 32, 32, 3)  # the recipe's reader finds it


def test_markdown_shows_both_model_kinds_with_the_figure_that_chose() -> None:
    rows = [{"candidate": "local", "escape": 1.0, "auroc": 0.739, "pauroc_10": 0.569},
            {"candidate": "global", "escape": 0.95, "auroc": 0.616, "pauroc_10": 0.51}]
    run = {"case": "all", "seed": 0, "auroc": 0.8, "train_seconds": 1.0,
           "model_kind": {"chosen": "local", "candidates": rows, "rank": "RULE",
                          "judged_on": {"defects": 20, "families": ["real"]}}}
    text = markdown(_doc([run]))
    assert ("**local** kept; validation defects passing at each kind's radius: local 100.0 % (validation AUROC 73.9, "
            "partial AUROC 56.9), global 95.0 % (validation AUROC 61.6, partial AUROC 51.0) (20 defects: real). "
            "Rank: RULE.") in text
