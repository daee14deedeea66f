"""Recipe files: parsing, settings inheritance, sizes, and the errors a wrong file gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspect_svdd.bench.recipe import load_recipe, merge, parse_cases
from inspect_svdd.errors import ConfigError

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_recipes_resolve_at_every_size(path: Path) -> None:
    recipe = load_recipe(path)
    for setting in recipe.settings:
        for size in recipe.sizes:
            assert recipe.config(setting, size, seed=3).train.seed == 3


def test_mnist_paper_setting_is_the_papers() -> None:
    cfg = load_recipe(RECIPES / "mnist.yaml").config("paper", "full", 0)
    assert (cfg.net.architecture, cfg.net.widths, cfg.net.rep_dim, cfg.net.input_norm) == ("pooled", (8, 4), 32, "gcn-l1-minmax")
    assert (cfg.net.decoder, cfg.net.init, cfg.net.first_filters) == ("upsample", "xavier-all", "dictionary")
    t = cfg.train
    assert (t.ae_epochs, t.epochs, t.batch_size, t.lr, t.ae_lr) == (150, 150, 200, 1e-4, 1e-4)
    assert (t.ae_weight_decay, t.weight_decay, t.ae_lr_milestones, t.lr_milestones) == (0.5e-3, 0.5e-6, (50,), (50,))
    assert (t.objective, t.augment, t.holdout, cfg.preprocess.image_size) == ("one-class", "none", 0.0, 28)


def test_cifar_paper_setting_and_soft_boundary_inherits_it() -> None:
    recipe = load_recipe(RECIPES / "cifar10.yaml")
    paper, soft = recipe.config("paper", "full", 0), recipe.config("paper-soft-boundary", "full", 0)
    assert (paper.net.widths, paper.net.rep_dim) == ((32, 64, 128), 128)
    assert (paper.net.decoder, paper.net.code_norm, paper.net.init, paper.net.first_filters) == (
        "upsample", True, "xavier-all", "dictionary")
    assert (paper.train.ae_epochs, paper.train.ae_lr_milestones) == (350, (250,))
    assert soft.train.objective == "soft-boundary" and soft.train.nu == 0.1
    assert soft.net == paper.net and soft.train.epochs == paper.train.epochs


def test_smoke_size_overrides_only_what_it_names() -> None:
    recipe = load_recipe(RECIPES / "mnist.yaml")
    smoke, full = recipe.config("paper", "smoke", 0), recipe.config("paper", "full", 0)
    assert smoke.train.epochs < full.train.epochs and smoke.train.lr == full.train.lr and smoke.net == full.net
    assert recipe.size("smoke").cases == ("1",) and recipe.size("full").train_limit is None


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("dataset: svhn\nsettings: {a: {}}", "dataset must be one of"),
    ("dataset: mnist\nsettings: {a: {train: {epochz: 3}}}", "setting 'a' at size 'full': unknown TrainConfig settings: epochz"),
    ("dataset: mnist\nsettings: {a: {base: b}, b: {base: a}}", "is its own base"),
    ("dataset: folder\nsettings: {a: {}}", "needs 'folder'"),
    ("dataset: mnist\nsettings: {a: {}}\nbaselines: [knn]", "unknown baselines: knn"),
    ("dataset: mnist\nsettings: {a: {}}\nsizes: {s: {cases: [1], epochs: 3}}", "size 's' has unknown keys: epochs"),
    ("dataset: [mnist\n", "not valid YAML"),
])
def test_bad_recipes_are_one_line_errors_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_recipe(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_unknown_setting_and_size_are_named(tmp_path: Path) -> None:
    recipe = load_recipe(_write(tmp_path, "dataset: mnist\nsettings: {a: {}}"))
    with pytest.raises(ConfigError, match="no setting 'b'; known: a"):
        recipe.config("b", "full", 0)
    with pytest.raises(ConfigError, match="no size 'smoke'; known: full"):
        recipe.size("smoke")


def test_merge_is_recursive_and_pure() -> None:
    base = {"train": {"epochs": 5, "lr": 1.0}, "net": {"rep_dim": 8}}
    out = merge(base, {"train": {"epochs": 9}})
    assert out == {"train": {"epochs": 9, "lr": 1.0}, "net": {"rep_dim": 8}}
    assert base["train"]["epochs"] == 5


def test_parse_cases() -> None:
    assert parse_cases("0-3,7") == ("0", "1", "2", "3", "7")
    assert parse_cases(None) is None
