"""Recipe smoke runs on the real datasets in ../shared/datasets, through the CLI.

These are benchmark tests: each asserts a quality a broken model cannot reach, checked by breaking
the training loops once: MNIST digit 1 then scored 0.882 (bar 0.95), Fashion-MNIST trouser 0.918
(bar 0.95), casting 0.671 with the default k-NN score (bar 0.78; trained: 0.841). magnetic_tile has
no smoke test: short runs score near chance, and full runs stay far below a useful level (see README).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from inspect_svdd.cli import main
from tests.conftest import DATASETS, REPO

pytestmark = pytest.mark.realdata


def _needs(name: str) -> None:
    if not (DATASETS / name).is_dir():
        pytest.skip(f"{DATASETS / name} not present (real data for recipe tests)")


def _run(tmp_path: Path, recipe: str, setting: str, *extra: str, size: str = "smoke") -> dict:
    args = ["recipe", "run", str(REPO / "recipes" / recipe), "--setting", setting, "--size", size,
            "--data-root", str(DATASETS), "-o", str(tmp_path), "-q", *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    name = recipe.removesuffix(".yaml").replace("_", "-")
    doc = json.loads((tmp_path / f"{name}-{setting}-{size}.json").read_text())
    assert (tmp_path / f"{name}-{setting}-{size}.md").read_text() in result.output
    assert (tmp_path / f"{name}-{setting}-{size}.png").stat().st_size > 1000
    return doc


def test_mnist_paper_smoke_digit_one_vs_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _needs("MNIST")
    monkeypatch.setenv("INSPECT_SVDD_CACHE", str(tmp_path / "cache"))  # unpacks the .gz files here, no download
    doc = _run(tmp_path, "mnist.yaml", "paper")
    (run,) = doc["runs"]
    assert run["case"] == "1" and run["train_count"] == 1000 and run["test_count"] == 2000
    assert run["auroc"] >= 0.95, run["auroc"]  # trained: 0.971; untrained (initialised) encoder: 0.882
    assert run["config"]["net"]["input_norm"] == "gcn-l1-minmax" and set(run["baselines"]) == {
        "isolation-forest/pixels", "isolation-forest/features", "ocsvm/pixels", "ocsvm/features"}
    # precision and recall at each method's own boundary: Deep SVDD's R, the baselines' own
    assert all(0 < b["precision"] <= 1 and 0 < b["recall"] <= 1 for b in [run["rules"]["center"], *run["baselines"].values()])
    assert "| deep-svdd (at R) |" in (tmp_path / "mnist-paper-smoke.md").read_text()


def test_a_cut_off_unpacked_mnist_file_is_unpacked_again(tmp_path: Path) -> None:
    _needs("MNIST")
    from inspect_svdd.bench.data import load_torchvision

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(b"")  # as a killed or interrupted copy leaves it
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03" + bytes(100))  # a header, then too few bytes
    data = load_torchvision("mnist", DATASETS, cache=tmp_path)
    assert data.train.shape == (60000, 28, 28, 1) and data.test.shape == (10000, 28, 28, 1)


def test_cifar10_rotation_smoke_automobile_vs_rest(tmp_path: Path) -> None:
    _needs("cifar10")  # ../shared/datasets/cifar10: the real 60,000 images, as an ImageFolder
    doc = _run(tmp_path, "cifar10.yaml", "rotation", size="smoke-aux")
    (run,) = doc["runs"]
    assert run["case"] == "1" and run["train_count"] == 500 and run["test_count"] == 1000
    assert run["normal"] == "automobile" and run["config"]["train"]["rotation_weight"] == 1.0
    # trained: 0.717 by distance to c and 0.706 by the rotation task's loss; with the training steps removed
    # (untrained encoder and head): 0.548 and 0.466
    assert run["auroc"] >= 0.64, run["auroc"]
    assert run["rotation_score"]["auroc"] >= 0.60, run["rotation_score"]


def test_fashion_mnist_paper_smoke_trouser_vs_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _needs("FashionMNIST")
    monkeypatch.setenv("INSPECT_SVDD_CACHE", str(tmp_path / "cache"))
    doc = _run(tmp_path, "fashion_mnist.yaml", "paper")
    (run,) = doc["runs"]
    assert run["case"] == "1" and run["train_count"] == 1000 and run["test_count"] == 2000
    assert run["auroc"] >= 0.95, run["auroc"]  # trained: 0.973; untrained encoder: 0.918 (smoke starts from PyTorch's init)


def test_casting_toolkit_smoke_is_well_above_chance(tmp_path: Path) -> None:
    _needs("casting")
    doc = _run(tmp_path, "casting.yaml", "toolkit")
    (run,) = doc["runs"]
    assert run["train_count"] == 120 and run["groups"]["defect"]["count"] == 40
    chosen = run["chosen_config"]["score"]["rule"]  # the default fit chooses its scorer
    assert run["auroc"] >= 0.78, run["auroc"]  # default fit (fusion chosen): 0.889; untrained encoder (lr 0): 0.671 (k-NN)
    assert set(run["rules"]) == {"center", "mahalanobis", "knn", chosen} and run["rules"][chosen]["auroc"] == run["auroc"]
    assert run["selection"]["chosen"] in {c["candidate"] for c in run["selection"]["candidates"]}
    assert 0 <= run["test_false_reject_rate"] <= 0.2


def test_missing_dataset_is_one_line_naming_the_path(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["recipe", "run", str(REPO / "recipes" / "cifar10.yaml"), "--size", "smoke",
                                       "--data-root", str(tmp_path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "cifar-10-batches-py/data_batch_1: CIFAR-10 file missing" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_merge_joins_split_runs_and_names_a_bad_part(tmp_path: Path) -> None:
    base = {"recipe": "mnist", "setting": "paper", "size": "full", "dataset": "mnist", "paper_auroc": {"0": 98.0, "1": 99.7}}
    for case, auroc in [("0", 0.99), ("1", 0.995)]:
        run = {"case": case, "seed": 0, "auroc": auroc, "train_seconds": 2.0}
        (tmp_path / f"part{case}.json").write_text(json.dumps({**base, "runs": [run]}))
    out = tmp_path / "all" / "mnist-paper-full.json"
    result = CliRunner().invoke(main, ["recipe", "merge", str(tmp_path / "part0.json"), str(tmp_path / "part1.json"),
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [r["case"] for r in json.loads(out.read_text())["runs"]] == ["0", "1"]
    assert "| **mean** | 99.2 ± 0.2 | 98.8 |" in out.with_suffix(".md").read_text()
    (tmp_path / "bad.json").write_text("{not json")
    result = CliRunner().invoke(main, ["recipe", "merge", str(tmp_path / "part0.json"), str(tmp_path / "bad.json"),
                                       "-o", str(out)])
    assert result.exit_code != 0 and "bad.json: not a recipe results file" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_cifar10_folder_is_read_in_the_official_order() -> None:
    _needs("cifar10")
    from inspect_svdd.bench.data import load_torchvision

    data = load_torchvision("cifar10", DATASETS)
    assert data.train.shape == (50000, 32, 32, 3) and data.test.shape == (10000, 32, 32, 3)
    assert list(data.train_labels[:10]) == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]  # data_batch_1's first labels
    assert list(data.test_labels[:10]) == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]  # test_batch's
    assert tuple(data.train[0, 0, 0]) == (59, 62, 63) and tuple(data.test[0, 0, 0]) == (158, 112, 49)  # RGB, as printed
    assert np.bincount(data.test_labels).tolist() == [1000] * 10
