"""Run a recipe: for each case and seed, fit :class:`DeepSVDD`, score the test set, compare baselines.

The detector, loaders and preprocessing are the toolkit's own (the same code
as ``fit`` and ``score``). Results are written to the JSON file after every
run, so an interrupted benchmark keeps what it finished and ``resume`` skips it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inspect_svdd.bench.baselines import raw_pixels, run_baselines
from inspect_svdd.bench.data import (
    LabelledSet,
    Split,
    load_mvtec,
    load_torchvision,
    one_class_split,
    pollute_from_test,
    pollute_with_classes,
    validation_from_test,
    with_known_anomalies,
)
from inspect_svdd.bench.recipe import Recipe
from inspect_svdd.config import SCORE_RULES, FitConfig, PreprocessConfig, TrainConfig
from inspect_svdd.errors import ConfigError, DatasetError
from inspect_svdd.evaluate.metrics import at_radius, evaluation, ranking
from inspect_svdd.io.preprocess import preprocess
from inspect_svdd.model.artifact import library_versions, save_model
from inspect_svdd.model.detector import DeepSVDD
from inspect_svdd.model.heads import feature_slice
from inspect_svdd.model.local import detector_for, fit_either_kind, record_kind, resolve_kind
from inspect_svdd.model.selection import candidate_config

Log = Callable[[str], None]


@dataclass(frozen=True)
class RunOptions:
    """What to run and where the data are."""

    setting: str
    size: str = "full"
    cases: tuple[str, ...] | None = None
    seeds: int = 1
    data_root: Path = Path("../shared/datasets")
    download: bool = False
    resume: bool = False
    progress: bool = False
    save_models: Path | None = None  # each run's model saved under <case>-seed<seed>/
    pollution: float | None = None  # overrides the setting's pollution (a sweep); named in the results file


def results_stem(recipe: str, opt: RunOptions) -> str:
    """``<recipe>-<setting>-<size>``, with ``-pollution-<percent>`` when the run overrides the pollution."""
    swept = "" if opt.pollution is None else f"-pollution-{100 * opt.pollution:g}"
    return f"{recipe}-{opt.setting}-{opt.size}{swept}"


metrics = ranking  # the same AUROC and AUPR as `inspect-svdd evaluate`


def at_boundary(anomalous: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of the method's own verdicts (score > 0 fails: Deep SVDD at R, a baseline at its own)."""
    verdicts = at_radius(anomalous, scores)
    return {k: verdicts[k] for k in ("precision", "recall", "f1")}


def per_group(split: Split, scores: np.ndarray) -> dict[str, dict[str, Any]]:
    """For folder sets: each defect type against the good images, as `evaluate` reports it (AUROC, rates at R)."""
    return dict(evaluation(split.test_groups, scores)["per_type"])


def escape_at_frr(anomalous: np.ndarray, scores: np.ndarray, frr: float) -> float:
    """Share of anomalies passing at the threshold that rejects ``frr`` of the normal test images (an oracle figure)."""
    threshold = np.quantile(scores[~anomalous], 1 - frr)
    return float(np.mean(scores[anomalous] <= threshold))


def _rule_result(det: DeepSVDD, split: Split, test_embeddings: torch.Tensor) -> dict[str, Any]:
    """AUROC, AUPR, and the false-reject and escape rates at the radius set from good images only."""
    scores = det.score_embeddings(test_embeddings)
    anomalous = split.test_anomalous
    out = {**metrics(anomalous, scores), "radius": float(det.radius_ or 0.0),
           "test_false_reject_rate": float(np.mean(scores[~anomalous] > 0)),
           "test_escape_rate": float(np.mean(scores[anomalous] <= 0)),
           "escape_at_2pct_test_frr": escape_at_frr(anomalous, scores, 0.02), **at_boundary(anomalous, scores),
           "radius_facts": det.holdout_.get("radius", {}),
           "test_good_quantiles_r2": [float(q) for q in np.quantile(scores[~anomalous] / max(det.radius_ or 1, 1e-12) ** 2 + 1,
                                                                     [0.5, 0.98, 1.0])]}
    if "good" in split.test_groups and len(set(split.test_groups)) > 2:
        out["groups"] = {g: v["auroc"] for g, v in per_group(split, scores).items()}
    return out


def candidate_result(det: DeepSVDD, split: Split, name: str, both: torch.Tensor,
                     train: TrainConfig | None = None) -> tuple[DeepSVDD, dict[str, Any]]:
    """A candidate scorer on ``det``'s encoder, its radius set as fit sets it, and its test figures.

    ``name`` as in the selection tables (``knn/stages``, ``fusion:a+b``); ``both`` the test
    images' embeddings of both feature kinds (``det.embeddings(split.test, kind="both")``,
    computed once for every candidate); ``train`` changes the radius settings.
    """
    other = det.with_rule(candidate_config(det.config.score, name), split.train, train=train)
    stage_dim = det._fitted()[0].feature_dim("stages")
    return other, _rule_result(other, split, both[:, feature_slice(other.config.score.feature_kind, stage_dim)])


def proxy_table(det: DeepSVDD, split: Split) -> dict[str, Any]:
    """How well fit's validation judged: each candidate's validation figures beside its real test figures.

    The test figures of a candidate come from the same trained encoder scored
    by that candidate, its radius set from the held-out golden images as fit
    does; ``best_in_hindsight`` is the candidate with the lowest real escape
    rate at its radius (ties: higher test AUROC).
    """
    both = det.embeddings(split.test, kind="both")
    rows = []
    for row in det.selection_["candidates"]:
        _, test = candidate_result(det, split, row["candidate"], both)
        rows.append({**row, "test": {k: test[k] for k in ("auroc", "test_escape_rate", "test_false_reject_rate", "radius")}
                     | ({"groups": test["groups"]} if "groups" in test else {})})
    best = min(rows, key=lambda r: (r["test"]["test_escape_rate"], -r["test"]["auroc"]))
    return {"chosen": det.selection_["chosen"], "best_in_hindsight": best["candidate"],
            "judged_on": det.selection_.get("judged_on"), "candidates": rows}


def screening_figures(record: dict[str, Any], planted: np.ndarray) -> dict[str, Any]:
    """How well golden-set screening found the planted anomalies: recall and precision of its suspects.

    With ``drop_suspects`` the first fit's suspects count (those were dropped).
    """
    first = record.get("before_drop", record)
    suspects, truth = set(first.get("suspects", [])), {int(i) for i in planted}
    hits = len(suspects & truth)
    return {"planted": len(truth), "suspects": len(suspects), "found": hits,
            "recall": hits / len(truth) if truth else float("nan"),
            "precision": hits / len(suspects) if suspects else float("nan"),
            "dropped": len(record.get("dropped", []))}


def frame_features(embeddings: torch.Tensor, count: int) -> np.ndarray:
    """One feature row per image for the baselines: a tiled image's tile embeddings side by side."""
    return embeddings.reshape(count, -1).numpy()


def _resized(images: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """Bring arrays from a torchvision set to the setting's input size through the shared preprocessing."""
    if images.shape[1:] == (*cfg.input_shape, cfg.channels):
        return images
    return np.stack([preprocess(img, cfg) for img in images])


def merge_documents(docs: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """One results document from several of the same recipe, setting and size.

    A long benchmark can be split over processes or machines (``--classes``)
    and joined afterwards; ``docs`` are ``(name, document)`` pairs, the name
    used in errors. Library versions and thread counts of every part are kept.

    Raises:
        DatasetError: the parts differ in recipe, setting, size or dataset,
            or two parts hold the same (case, seed).
    """
    if not docs:
        raise DatasetError("nothing to merge")
    first_name, first = docs[0]
    keys = ("recipe", "setting", "size", "dataset", "pollution")
    runs: list[dict[str, Any]] = []
    seen: dict[tuple[str, int], str] = {}
    for name, doc in docs:
        differ = [k for k in keys if doc.get(k) != first.get(k)]
        if differ:
            raise DatasetError(f"{name}: differs from {first_name} in {', '.join(differ)}; only parts of one run can be merged")
        for run in doc["runs"]:
            key = (run["case"], run["seed"])
            if key in seen:
                raise DatasetError(f"{name}: case {key[0]} seed {key[1]} is also in {seen[key]}")
            seen[key] = name
            runs.append(run)
    parts = [{"file": name, "versions": doc.get("versions"), "torch_threads": doc.get("torch_threads"),
              "cases": sorted({r["case"] for r in doc["runs"]})} for name, doc in docs]
    return {**first, "runs": runs, "merged_from": parts}


class RecipeRunner:
    """Runs the cases of one recipe setting and writes ``<name>-<setting>-<size>.json``."""

    def __init__(self, recipe: Recipe, options: RunOptions, out_dir: str | Path, log: Log = print) -> None:
        self.recipe, self.opt, self.log = recipe, options, log
        self.out_dir = Path(out_dir)
        self.json_path = self.out_dir / f"{results_stem(recipe.name, options)}.json"
        self.pollution = recipe.pollution(options.setting) if options.pollution is None else options.pollution
        self._labelled: LabelledSet | None = None
        recipe.config(options.setting, options.size, 0)  # fail now, not after loading data

    def cases(self) -> tuple[str, ...]:
        """Case names to run: normal classes, or ``all`` for a folder set."""
        if self.recipe.dataset == "folder":
            return ("all",)
        chosen = self.opt.cases or self.recipe.size(self.opt.size).cases or tuple(str(i) for i in range(10))
        bad = [c for c in chosen if not c.isdigit() or not 0 <= int(c) <= 9]
        if bad:
            raise ConfigError(f"{self.recipe.path}: classes must be 0-9, got {', '.join(bad)}")
        return chosen

    def _split(self, case: str, cfg: FitConfig, seed: int) -> tuple[Split, FitConfig]:
        size = self.recipe.size(self.opt.size)
        if self.recipe.dataset == "folder":
            root = Path(self.recipe.folder or "")
            if not root.is_absolute():  # './' or '../': next to the recipe file; otherwise under the data root
                beside = str(self.recipe.folder).startswith(("./", "../"))
                root = self.recipe.path.parent / root if beside else self.opt.data_root / root
            split, pre = load_mvtec(root, cfg.preprocess, "auto", size.train_limit, size.test_limit, seed)
            if self.pollution:
                split = pollute_from_test(split, self.pollution, seed)
            return split, dataclasses.replace(cfg, preprocess=pre)  # keeps the score settings
        if self._labelled is None:
            self._labelled = load_torchvision(self.recipe.dataset, self.opt.data_root, self.opt.download)
        split = one_class_split(self._labelled, int(case), size.train_limit, size.test_limit, seed)
        ratio = self.recipe.known_anomalies(self.opt.setting)
        if ratio:
            split = with_known_anomalies(split, self._labelled, int(case), ratio, seed)
            split.known_anomalies = _resized(split.known_anomalies, cfg.preprocess)  # type: ignore[arg-type]
        if self.pollution:
            split = pollute_with_classes(split, self._labelled, int(case), self.pollution, seed)
        split.train, split.test = _resized(split.train, cfg.preprocess), _resized(split.test, cfg.preprocess)
        return split, cfg

    def run_one(self, case: str, seed: int) -> dict[str, Any]:
        """Fit and evaluate one case with one seed; return the JSON-ready result."""
        cfg = self.recipe.config(self.opt.setting, self.opt.size, seed)
        split, cfg = self._split(case, cfg, seed)
        count = self.recipe.validate(self.opt.setting)  # real defects to judge on, as with fit --validate
        validation = validation_from_test(split, count, seed) if count else None
        start = time.perf_counter()
        cfg, kind_facts = resolve_kind(cfg, split.train, defects=split.known_anomalies)  # as fit decides the kind
        if cfg.chooses_kind:  # both kinds fitted, the better kept (as fit does)
            det = fit_either_kind(cfg, split.train, validation, progress=self.opt.progress,
                                  defects=split.known_anomalies)
        else:
            det = record_kind(detector_for(cfg).fit(split.train, progress=self.opt.progress,
                                                    defects=split.known_anomalies, validation=validation), kind_facts)
        train_seconds = time.perf_counter() - start
        if self.opt.save_models:
            save_model(det, self.opt.save_models / f"{case}-seed{seed}",
                       {"recipe": str(self.recipe.path), "setting": self.opt.setting, "size": self.opt.size,
                        "count": len(split.train), **split.facts})
        chosen = det.config.score  # the recipe's rule, or the one fit chose (rule auto)
        test_features = {kind: det.embeddings(split.test, kind=kind) for kind in {chosen.feature_kind, "embedding"}}
        # once per kind, for every rule and the baselines
        test_embeddings = test_features["embedding"]
        scores = det.score_embeddings(test_features[chosen.feature_kind])
        result: dict[str, Any] = {"case": case, "seed": seed, **split.facts, **metrics(split.test_anomalous, scores),
                                  "train_seconds": round(train_seconds, 1), "radius": det.radius_,
                                  "test_false_reject_rate": float(np.mean(scores[~split.test_anomalous] > 0)),
                                  "test_escape_rate": float(np.mean(scores[split.test_anomalous] <= 0)),
                                  "score_std": float(np.std(scores)), "config": cfg.to_dict(),
                                  "chosen_config": det.config.to_dict(), "schedule": det.schedule_,
                                  "alignment": det.alignment_,
                                  "trained_with_anomalies": int(det.holdout_.get("defects", 0))}
        if self.recipe.dataset == "folder":
            result["groups"] = per_group(split, scores)
        if split.planted is not None or det.config.train.drop_suspects:  # a clean folder's drops are its cost
            result["screening"] = screening_figures(det.screening_, np.asarray([] if split.planted is None else split.planted))
        result["rules"] = {chosen.rule: _rule_result(det, split, test_features[chosen.feature_kind])}
        if "model_kind" in det.selection_:
            result["model_kind"] = det.selection_["model_kind"]
        for rule in () if det.config.is_local else SCORE_RULES:  # every scoring rule on the same trained encoder
            if rule != chosen.rule:
                other = det.with_rule(dataclasses.replace(chosen, rule=rule, members=(),
                                                          features="embedding" if chosen.rule == "fusion" else chosen.features),
                                      split.train)
                result["rules"][rule] = _rule_result(other, split, test_features[other.config.score.feature_kind])
        if det.selection_.get("candidates"):
            result["selection"] = proxy_table(det, split)
        if det.rotation_head_ is not None:  # the auxiliary task's own score, for comparison
            result["rotation_score"] = metrics(split.test_anomalous, det.turn_losses(split.test))
        if self.recipe.baselines:
            inputs = {"pixels": (raw_pixels(split.train), raw_pixels(split.test))}
            if not det.config.is_local:  # the local model has no embedding for the classic baselines to use
                inputs["features"] = (frame_features(det.embeddings(split.train, kind="embedding"), len(split.train)),
                                      frame_features(test_embeddings, len(split.test)))
            for name, base in run_baselines(self.recipe.baselines, inputs, self.recipe.baseline_limit, seed).items():
                base_scores: np.ndarray = base.pop("scores")  # type: ignore[assignment]
                result.setdefault("baselines", {})[name] = {
                    **metrics(split.test_anomalous, base_scores), **at_boundary(split.test_anomalous, base_scores), **base}
        return result

    def previous_runs(self) -> list[dict[str, Any]]:
        """The finished runs of an earlier call (with ``resume``), else none."""
        if not (self.opt.resume and self.json_path.is_file()):
            return []
        try:
            return list(json.loads(self.json_path.read_text()).get("runs", []))
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{self.json_path}: cannot resume from it ({exc})") from None

    def document(self, runs: list[dict[str, Any]]) -> dict[str, Any]:
        """The results file's content for ``runs``."""
        return {"recipe": self.recipe.name, "recipe_file": str(self.recipe.path), "setting": self.opt.setting,
                "size": self.opt.size, "pollution": self.pollution, "dataset": self.recipe.dataset,
                "paper_auroc": self.recipe.paper,
                "versions": library_versions(), "torch_threads": torch.get_num_threads(), "runs": runs}

    def run(self) -> dict[str, Any]:
        """Run every (case, seed), saving after each; return the document."""
        runs = self.previous_runs()
        done = {(r["case"], r["seed"]) for r in runs}
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for case in self.cases():
            for seed in range(self.opt.seeds):
                if (case, seed) in done:
                    continue
                result = self.run_one(case, seed)
                runs.append(result)
                self.save(runs)
                self.log(f"{self.recipe.name} {self.opt.setting} case {case} seed {seed}: AUROC {result['auroc']:.4f} "
                         f"({result['train_seconds']:.0f} s)")
        doc = self.document(runs)
        self.save(runs)
        return doc

    def save(self, runs: list[dict[str, Any]]) -> None:
        """Write the results file for ``runs`` (atomically: a kill never leaves half a file)."""
        tmp = self.json_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.document(runs), indent=1) + "\n")
        tmp.replace(self.json_path)
