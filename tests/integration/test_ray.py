"""The Ray engine gives what the local engine gives: same rows for score, same AUROCs for a recipe grid.

A local Ray instance with 2 CPUs is started once for the module (a few seconds).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspect_svdd.cli import main
from tests.conftest import DATASETS, REPO, SAMPLES

ray = pytest.importorskip("ray", reason="the Ray engine needs pip install 'inspect-svdd[ray]' (the test extra has it)")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    from inspect_svdd.deploy.ray_engine import start

    assert start(cpus=2) == 2
    yield
    ray.shutdown()


def _score(*args: str) -> tuple[int, list[dict[str, str]], str]:
    result = CliRunner().invoke(main, ["score", *args, "--csv", "-"])
    return result.exit_code, list(csv.DictReader(io.StringIO(result.stdout))), result.stderr


def test_score_on_ray_gives_the_local_rows(local_ray: None, model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    shutil.copytree(SAMPLES / "incoming", folder)
    (folder / "scratch" / "zz_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    local_code, local, _ = _score(str(folder), "-m", str(model_dir))
    temp = Path(tempfile.gettempdir())
    before = set(temp.glob("inspect-svdd-model-*"))
    ray_code, on_ray, err = _score(str(folder), "-m", str(model_dir), "--engine", "ray", "--batch-size", "8")
    assert ray_code == local_code == 3, err
    assert set(temp.glob("inspect-svdd-model-*")) == before  # each actor removed its copy of the model once loaded
    assert [r["path"] for r in on_ray] == [r["path"] for r in local] and len(local) == 41
    assert [r["verdict"] for r in on_ray] == [r["verdict"] for r in local]
    for a, b in zip(on_ray, local, strict=True):
        if a["verdict"] == "error":
            assert a["error"] == b["error"] == "PNG file is truncated (no end marker)" and a["distance"] == ""
        else:
            assert abs(float(a["distance"]) - float(b["distance"])) <= 1e-6 and a["radius"] == b["radius"]


def test_score_on_ray_reads_a_list_of_paths(local_ray: None, model_dir: Path, tmp_path: Path) -> None:
    listing = tmp_path / "frames.txt"
    chosen = [*sorted((SAMPLES / "incoming" / "scratch").iterdir())[:2], tmp_path / "missing.png"]
    listing.write_text("# frames to re-check\n" + "\n".join(str(p) for p in chosen) + "\n")
    code, rows, _ = _score(str(listing), "-m", str(model_dir), "--engine", "ray")
    assert code == 3 and [r["path"] for r in rows] == [str(p) for p in chosen]
    assert rows[-1]["verdict"] == "error" and rows[-1]["error"] == "file not found"


def test_ray_engine_refuses_what_it_cannot_do(model_dir: Path, tmp_path: Path) -> None:
    for extra, message in ((["--backend", "torch"], "drop --backend torch"),
                           (["--heatmaps", str(tmp_path / "h")], "--heatmaps works with the local engine"),
                           (["--device", "cuda"], "--device cuda is for the local engine"),
                           (["--threads", "2"], "--threads is for the local engine")):
        code, _, err = _score(str(SAMPLES / "incoming"), "-m", str(model_dir), "--engine", "ray", *extra)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.realdata
def test_recipe_grid_on_ray_gives_the_sequential_aurocs(local_ray: None, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if not (DATASETS / "MNIST").is_dir():
        pytest.skip(f"{DATASETS / 'MNIST'} not present")
    monkeypatch.setenv("INSPECT_SVDD_CACHE", str(tmp_path / "cache"))
    docs = {}
    for engine in ("local", "ray"):
        args = ["recipe", "run", str(REPO / "recipes" / "mnist.yaml"), "--setting", "paper", "--size", "smoke",
                "--classes", "0,1", "--data-root", str(DATASETS), "-o", str(tmp_path / engine), "--threads", "1",
                "--engine", engine, "-q"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        docs[engine] = json.loads((tmp_path / engine / "mnist-paper-smoke.json").read_text())
        assert (tmp_path / engine / "mnist-paper-smoke.md").is_file()
    aurocs = {e: [(r["case"], r["auroc"]) for r in d["runs"]] for e, d in docs.items()}
    assert aurocs["ray"] == aurocs["local"] and [c for c, _ in aurocs["local"]] == ["0", "1"]
    assert all(r["engine"]["name"] == "ray" for r in docs["ray"]["runs"])
