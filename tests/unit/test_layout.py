"""The package layout: arrows point down only, the runtime stays torch-free, the CLI's help stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "inspect_svdd"
LAYERS = {"io": 1, "model": 2, "deploy": 3, "evaluate": 4, "bench": 4, "cli": 5}  # top-level modules: 0
TORCH_FREE = ("inspect_svdd.deploy.runtime", "inspect_svdd.deploy.scoring", "inspect_svdd.deploy.results",
              "inspect_svdd.io.preprocess", "inspect_svdd.io.images", "inspect_svdd.evaluate.heatmaps")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


FACADES = ("inspect_svdd", "inspect_svdd.__main__")  # entry points: the lazy public names and `python -m`


def layer(module: str) -> int:
    if module in FACADES:
        return 6
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def imports(path: Path) -> set[str]:
    """Every inspect_svdd module imported anywhere in the file (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inspect_svdd"):
            found |= {f"{node.module}.{a.name}" if (PACKAGE / Path(*node.module.split(".")[1:]) / a.name).exists()
                      or (PACKAGE / Path(*node.module.split(".")[1:]) / f"{a.name}.py").exists() else node.module
                      for a in node.names if a.name != "__version__"}  # the package root's constant
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("inspect_svdd")}
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_only(module: str) -> None:
    upward = [m for m in imports(MODULES[module]) if layer(m) > layer(module)]
    assert not upward, f"{module} (layer {layer(module)}) imports {upward}"


def test_layer_check_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from inspect_svdd.cli.common import main\n")
    assert any(layer(m) > layer("inspect_svdd.model.nets") for m in imports(bad))


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout.split()
    return set(out)


def test_runtime_and_help_do_not_import_heavy_libraries() -> None:
    loaded = _modules_after("import " + ", ".join(TORCH_FREE))
    assert "torch" not in loaded and "inspect_svdd.model" not in loaded
    loaded = _modules_after("from inspect_svdd.cli import main")
    assert not {"torch", "cv2", "numpy", "onnxruntime", "albumentations"} & loaded


def test_python_m_and_version() -> None:
    out = subprocess.run([sys.executable, "-m", "inspect_svdd", "--version"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0 and out.stdout.startswith("inspect-svdd, version ")
    out = subprocess.run([sys.executable, "-m", "inspect_svdd", "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0 and "fit" in out.stdout and "score" in out.stdout


def test_public_names_resolve_lazily() -> None:
    import inspect_svdd

    assert inspect_svdd.OnnxScorer.__name__ == "OnnxScorer" and inspect_svdd.DeepSVDD.__name__ == "DeepSVDD"
    with pytest.raises(AttributeError):
        _ = inspect_svdd.NoSuchThing


@pytest.mark.parametrize(("score_code", "demo_fails"), [(0, False), (1, False), (2, True), (3, True)])
def test_make_demo_fails_when_scoring_breaks(tmp_path: Path, score_code: int, demo_fails: bool) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    script = fake / "inspect-svdd"  # stands in for the CLI: fit works, score exits with score_code
    script.write_text(f'#!/bin/sh\n[ "$1" = score ] && {{ echo path > results.csv; exit {score_code}; }}\nexit 0\n')
    script.chmod(0o755)
    command = ["make", "-s", "-f", str(REPO / "Makefile"), "-o", "install", "demo", f"BIN={fake}"]
    out = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert (out.returncode != 0) == demo_fails, out.stdout + out.stderr


def test_the_lock_pins_every_dependency() -> None:
    """requirements/lock.txt (what make installs from) must cover pyproject.toml's dependencies and test extra."""
    import re

    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = project["dependencies"] + extras["test"] + extras["bench"] + extras["ray"]
    names = {re.split(r"[<>=;\[ ]", d, maxsplit=1)[0].lower().replace("_", "-") for d in wanted}
    names -= {"inspect-svdd", "onnxruntime"}  # the project itself; plain onnxruntime only where no GPU wheel exists
    lines = (REPO / "requirements" / "lock.txt").read_text().splitlines()
    locked = {line.split("==")[0].lower().replace("_", "-") for line in lines if "==" in line and not line.startswith("#")}
    assert names - locked == set()


def test_only_the_ray_modules_import_ray() -> None:
    """Ray is an optional extra: the core never imports it, so installs without it keep working."""
    importers = set()
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "ray" or n.startswith("ray.") for n in names):
                importers.add(module)
    assert importers == {"inspect_svdd.deploy.ray_engine", "inspect_svdd.bench.ray_grid"}
    loaded = _modules_after("import inspect_svdd.cli.score, inspect_svdd.cli.recipe, inspect_svdd.deploy.scoring")
    assert "ray" not in loaded
