"""Recipes: declarative benchmark definitions (YAML) resolved into the toolkit's own configs.

A recipe names a dataset, one or more *settings* (each a partial
:class:`~inspect_svdd.config.FitConfig`, optionally based on another setting)
and *sizes* (which cases, how many images, which training overrides). Running
one is library code (:mod:`inspect_svdd.bench.runner`); a recipe holds no code.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspect_svdd.config import FitConfig, read_yaml
from inspect_svdd.errors import ConfigError

DATASET_KINDS = ("mnist", "fashion-mnist", "cifar10", "folder")


@dataclass(frozen=True)
class Size:
    """How much of a recipe to run: cases, image counts and training overrides."""

    cases: tuple[str, ...] | None = None
    train_limit: int | None = None
    test_limit: int | None = None
    override: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe file."""

    name: str
    path: Path
    dataset: str
    folder: str | None
    settings: dict[str, dict[str, Any]]
    sizes: dict[str, Size]
    paper: dict[str, float]
    baselines: tuple[str, ...]
    baseline_limit: int

    def known_anomalies(self, setting: str) -> float:
        """The setting's ``known_anomalies``: share of labelled anomalies added to training (Deep SAD), 0 for none."""
        return float(self._setting(setting, ()).get("known_anomalies", 0.0))

    def pollution(self, setting: str) -> float:
        """The setting's ``pollution``: share of unlabelled anomalies mixed into the training set, 0 for none."""
        return float(self._setting(setting, ()).get("pollution", 0.0))

    def validate(self, setting: str) -> int:
        """The setting's ``validate``: how many real test defects play ``fit --validate`` (drawn, out of the test set)."""
        return int(self._setting(setting, ()).get("validate", 0))

    def config(self, setting: str, size: str, seed: int) -> FitConfig:
        """The FitConfig of ``setting`` at ``size`` with ``seed``."""
        values = self._setting(setting, ())
        values.pop("known_anomalies", None)  # the runner's, not the detector's
        values.pop("pollution", None)
        values.pop("validate", None)
        values = merge(values, self.size(size).override)
        values = merge(values, {"train": {"seed": seed}})
        try:
            return FitConfig.from_dict(values)
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"{self.path}: setting {setting!r} at size {size!r}: {exc}") from None

    def size(self, name: str) -> Size:
        """The named size, or a ConfigError listing the known ones."""
        if name not in self.sizes:
            raise ConfigError(f"{self.path}: no size {name!r}; known: {', '.join(self.sizes)}")
        return self.sizes[name]

    def _setting(self, name: str, seen: tuple[str, ...]) -> dict[str, Any]:
        if name not in self.settings:
            raise ConfigError(f"{self.path}: no setting {name!r}; known: {', '.join(self.settings)}")
        if name in seen:
            raise ConfigError(f"{self.path}: setting {name!r} is its own base")
        values = copy.deepcopy(self.settings[name])
        base = values.pop("base", None)
        return merge(self._setting(base, (*seen, name)), values) if base else values


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``update`` wins; neither input is changed."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _size(path: Path, name: str, data: Any) -> Size:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: size {name!r} must be a mapping")
    unknown = set(data) - {"cases", "train_limit", "test_limit", "override"}
    if unknown:
        raise ConfigError(f"{path}: size {name!r} has unknown keys: {', '.join(sorted(unknown))}")
    cases = data.get("cases")
    return Size(tuple(str(c) for c in cases) if cases is not None else None,
                data.get("train_limit"), data.get("test_limit"), dict(data.get("override") or {}))


def load_recipe(path: str | Path) -> Recipe:
    """Parse and check a recipe file; every setting at every size must resolve.

    Raises:
        ConfigError: unreadable file, unknown dataset, or a setting the
            toolkit's configs reject (named with the file).
    """
    path = Path(path)
    data = read_yaml(path, "recipe")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe must be a YAML mapping")
    dataset = data.get("dataset")
    if dataset not in DATASET_KINDS:
        raise ConfigError(f"{path}: dataset must be one of {', '.join(DATASET_KINDS)}, got {dataset!r}")
    if dataset == "folder" and not data.get("folder"):
        raise ConfigError(f"{path}: a folder recipe needs 'folder' (relative to the data root, or absolute)")
    if not data.get("settings"):
        raise ConfigError(f"{path}: no settings")
    sizes = {name: _size(path, name, value) for name, value in (data.get("sizes") or {"full": {}}).items()}
    recipe = Recipe(
        name=str(data.get("name", path.stem)), path=path, dataset=dataset, folder=data.get("folder"),
        settings=dict(data["settings"]), sizes=sizes,
        paper={str(k): float(v) for k, v in (data.get("paper_auroc") or {}).items()},
        baselines=tuple(data.get("baselines") or ()), baseline_limit=int(data.get("baseline_limit", 2000)),
    )
    for setting in recipe.settings:
        for size in recipe.sizes:
            recipe.config(setting, size, 0)
        if not 0 <= recipe.pollution(setting) < 0.5:
            raise ConfigError(f"{path}: setting {setting!r}: pollution must be in [0, 0.5), got {recipe.pollution(setting)}")
        if recipe.validate(setting) < 0:
            raise ConfigError(f"{path}: setting {setting!r}: validate must be a count of test defects >= 0, "
                              f"got {recipe.validate(setting)}")
        ratio = recipe.known_anomalies(setting)
        if not 0 <= ratio < 0.5 or (ratio and dataset == "folder"):
            raise ConfigError(f"{path}: setting {setting!r}: known_anomalies must be in [0, 0.5) and needs a class-labelled "
                              f"dataset, got {ratio} on {dataset}")
    unknown = set(recipe.baselines) - {"isolation-forest", "ocsvm"}
    if unknown:
        raise ConfigError(f"{path}: unknown baselines: {', '.join(sorted(unknown))}")
    return recipe


def parse_cases(text: str | None) -> tuple[str, ...] | None:
    """``0-9``, ``1,3,5`` or ``2`` -> case names; None passes through."""
    if text is None:
        return None
    cases: list[str] = []
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        if sep and lo.isdigit() and hi.isdigit():
            cases += [str(i) for i in range(int(lo), int(hi) + 1)]
        elif part:
            cases.append(part)
    return tuple(cases)
