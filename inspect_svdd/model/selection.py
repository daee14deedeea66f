"""Choosing the scorer inside ``fit``: every cheap candidate judged on held-out golden images plus defects.

No fixed scoring rule wins on every part (the distance to c, Mahalanobis or
k-NN, on the embedding, the pooled stage outputs or both). They all run on the
one trained encoder, so ``fit`` can afford to try them: each candidate's
radius is set from the held-out golden images exactly as the final model's
will be, and the candidate is judged by what the line cares about, the share
of validation defects that pass at that radius (the escape rate), ties broken
by the partial AUROC up to 10 % false positives, then by the cheaper scorer.
The validation defects are synthetic ones made from the held-out golden
images (every family of :func:`~inspect_svdd.model.synthetic.defect_families`,
in turn, seeded), or real defective parts when the user has some. Fusions of
the best candidates (each standardised on the held-out images) are judged the
same way, and whichever measures better is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from inspect_svdd.config import ScoreConfig, TrainConfig
from inspect_svdd.model.augment import augmented_copy, image_seed
from inspect_svdd.model.heads import FusionHead, ScoreHead, feature_slice, member_config
from inspect_svdd.model.hypersphere import fit_radius
from inspect_svdd.model.nets import worst_tile
from inspect_svdd.model.synthetic import defect_families

CANDIDATES = ("center/embedding", "knn/embedding", "knn/stages", "knn/both",
              "mahalanobis/embedding", "mahalanobis/stages", "mahalanobis/both")
FUSION_SIZES = (2, 3)  # the best two and the best three candidates are fused
MAX_DEFECTS = 600


def synthetic_defects(images: np.ndarray, count: int, seed: int, only: Sequence[str] | None = None
                      ) -> tuple[np.ndarray, list[str]]:
    """``count`` synthetic defects made from ``images`` (uint8 NHWC), cycling through images and families.

    ``only`` restricts the families (names of :func:`defect_families`).
    Returns the defects and each one's family name. Deterministic for a seed.
    """
    import albumentations as A

    families = [(name, t) for name, t in defect_families().items() if only is None or name in only]
    pipelines = [(name, A.Compose([transform])) for name, transform in families]
    out, names = [], []
    for i in range(count):  # every image in turn, the family shifting by one on each round over the images
        source = i % len(images)
        name, pipeline = pipelines[(i + i // len(images)) % len(pipelines)]
        out.append(augmented_copy(pipeline, images[source], image_seed(seed, source, i)))
        names.append(name)
    return np.stack(out), names


def defect_count(cfg: ScoreConfig, n_held_out: int) -> int:
    """How many synthetic defects judge the candidates: at least ``validation_defects``, two per held-out image."""
    return int(min(MAX_DEFECTS, max(cfg.validation_defects, 2 * n_held_out)))


@dataclass
class Judged:
    """One candidate's figures on the validation set."""

    name: str
    head: torch.nn.Module
    good: np.ndarray  # statistics of the held-out golden images, then of their augmented views (radius_views)
    bad: np.ndarray  # statistics of the validation defects
    cost: int
    images: int  # how many of ``good`` are the held-out images themselves

    def figures(self, train: TrainConfig, families: Sequence[str]) -> dict[str, Any]:
        """Escape and false-reject rates at the radius the fit would set, AUROC and partial AUROC, per-family escapes."""
        radius, _ = fit_radius(self.good, train.target_frr, train.radius_rule, train.radius_confidence)
        return figures(self.name, self.good[: self.images], self.bad, radius**2, families, self.cost)


def figures(name: str, good: np.ndarray, bad: np.ndarray, r2: float, families: Sequence[str], cost: int
            ) -> dict[str, Any]:
    """One candidate's row: escape and false-reject rates at ``r2``, AUROC, partial AUROC, per-family escapes."""
    labels = np.r_[np.zeros(len(good)), np.ones(len(bad))]
    scores = np.r_[good, bad]
    escaped = bad <= r2
    per_family = {f: float(np.mean(escaped[np.asarray(families) == f])) for f in dict.fromkeys(families)}
    return {"candidate": name, "escape": float(np.mean(escaped)), "false_reject": float(np.mean(good > r2)),
            "auroc": float(roc_auc_score(labels, scores)),
            "pauroc_10": float(roc_auc_score(labels, scores, max_fpr=0.1)), "cost": cost,
            "escape_per_family": per_family}


def _cost(cfg: ScoreConfig, dim: int, bank: int) -> int:
    """Multiply-adds per image of the rule's head (the encoder is shared)."""
    return {"center": dim, "mahalanobis": dim * dim, "knn": bank * dim}.get(cfg.rule, dim)


def _rank(row: dict[str, Any]) -> tuple[float, float, int]:
    return (round(row["escape"], 9), -round(row["pauroc_10"], 9), row["cost"])


def select_scorer(cfg: ScoreConfig, train: TrainConfig, bank: torch.Tensor, good: torch.Tensor, bad: torch.Tensor,
                  center: torch.Tensor, stage_dim: int, tiles: int, families: Sequence[str], images: int | None = None
                  ) -> tuple[ScoreConfig, torch.nn.Module, dict[str, Any]]:
    """Judge every candidate and the fusions of the best; return the winner's config, fitted head and the table.

    ``bank``, ``good`` and ``bad`` are ``both`` features (pooled stages, then
    the embedding) of the training images (and their bank views), the
    held-out golden images (the first ``images`` of them; the rest are their
    augmented views, which the radius is set on too) and the validation
    defects (per tile, in order, for a tiled model).
    """
    n_images = images if images is not None else len(good) // tiles
    judged: dict[str, Judged] = {}
    for name in CANDIDATES:
        member = member_config(cfg, name)
        where = feature_slice(member.feature_kind, stage_dim)
        if member.rule == "knn" and len(bank) <= member.k:
            continue
        head = ScoreHead.fit(member, bank[:, where], center)
        with torch.no_grad():
            stats = [worst_tile(head(f[:, where]), tiles).numpy().astype(np.float64) for f in (good, bad)]
        judged[name] = Judged(name, head, stats[0], stats[1], _cost(member, bank[:, where].shape[1], len(bank)), n_images)
    rows = {name: j.figures(train, families) for name, j in judged.items()}
    order = sorted(rows, key=lambda n: _rank(rows[n]))
    for size in FUSION_SIZES:
        if len(order) >= size:
            fused = _fuse(cfg, order[:size], judged, bank, good, bad, center, stage_dim, tiles, n_images)
            judged[fused.name] = fused
            rows[fused.name] = fused.figures(train, families)
    best = min(rows, key=lambda n: _rank(rows[n]))
    chosen = candidate_config(cfg, best)
    table = {"chosen": best, "judged_on": {"held_out": n_images, "views": len(judged[best].good) - n_images,
                                           "defects": len(judged[best].bad),
                                           "families": sorted(set(families))},
             "rank": "escape at the fitted radius, then partial AUROC (FPR <= 0.1), then cost",
             "candidates": sorted(rows.values(), key=_rank)}
    return chosen, judged[best].head, table


def candidate_config(cfg: ScoreConfig, name: str) -> ScoreConfig:
    """The score config of a candidate named as in the table (``knn/stages``, ``fusion:a+b``)."""
    if name.startswith("fusion:"):
        return replace(cfg, rule="fusion", features="both", members=tuple(name[len("fusion:"):].split("+")))
    return member_config(cfg, name)


def _fuse(cfg: ScoreConfig, names: list[str], judged: dict[str, Judged], bank: torch.Tensor, good: torch.Tensor,
          bad: torch.Tensor, center: torch.Tensor, stage_dim: int, tiles: int, images: int) -> Judged:
    """A fusion of the named candidates, standardised on the held-out statistics of its members."""
    fcfg = replace(cfg, rule="fusion", features="both", members=tuple(names))
    head = fusion_head(fcfg, bank, good, center, stage_dim, tiles, [judged[n].head for n in names])
    with torch.no_grad():
        stats = [worst_tile(head(f), tiles).numpy().astype(np.float64) for f in (good, bad)]
    return Judged("fusion:" + "+".join(names), head, stats[0], stats[1], sum(judged[n].cost for n in names), images)


def fusion_head(cfg: ScoreConfig, bank: torch.Tensor, good: torch.Tensor, center: torch.Tensor, stage_dim: int,
                tiles: int, fitted: Sequence[torch.nn.Module] | None = None) -> FusionHead:
    """Fit a :class:`FusionHead`: each member on the bank (or ``fitted`` heads), standardised on the held-out images."""
    head = FusionHead(cfg, stage_dim, bank.shape[1] - stage_dim, len(bank))
    for i, (member, kind) in enumerate(zip(cfg.members, head.kinds, strict=True)):
        where = feature_slice(kind, stage_dim)
        head.members[i] = fitted[i] if fitted else ScoreHead.fit(member_config(cfg, member), bank[:, where], center)
    with torch.no_grad():
        head.standardise([worst_tile(s, tiles) for s in head.member_statistics(good)])
    return head


UNSEEN_BY_LOCAL = ("cutpaste", "smudge", "dent")  # families unlike the local model's training defects (blends, spots, lines)
KIND_COST = {"global": 1, "local": 2}  # ties go to the lighter model


KIND_RANK = ("escape at each model's own radius where the two differ by more than two standard errors, "
             "else partial AUROC (FPR <= 0.1), then the lighter model")


def escapes_differ(a: float, b: float, n: int, z: float = 2.0) -> bool:
    """Whether escape rates ``a`` and ``b``, each measured on ``n`` defects, differ beyond chance.

    A two-proportion test at ``z`` standard errors of the difference (pooled,
    unpaired, so cautious when both models see the same defects): with 20
    defects, 95 % against 100 % is one defect and decides nothing.
    """
    pooled = (a + b) / 2
    return abs(a - b) > z * np.sqrt(2 * pooled * (1 - pooled) / max(n, 1))


def judge_kinds(statistics: dict[str, tuple[np.ndarray, np.ndarray, float]], families: Sequence[str]
                ) -> tuple[str, list[dict[str, Any]], str]:
    """Choose the model kind: each kind's (held-out golden statistics, validation-defect statistics, R**2).

    Each kind is judged at its own radius, as the line would meet it: the share
    of validation defects that pass (the escape rate) decides when it differs
    from the lowest beyond chance (:func:`escapes_differ`; the validation set is
    often a handful of real defects or a few dozen synthetic ones); among the
    kinds within chance of the lowest, the partial AUROC up to 10 % false
    positives decides, then the lighter model. Returns the chosen kind, the
    table (chosen first, the rest by escape) and the figure that decided
    (``escape``, ``partial AUROC`` or ``lighter model``).
    """
    rows = [figures(kind, good, bad, r2, families, KIND_COST.get(kind, 1))
            for kind, (good, bad, r2) in statistics.items()]
    lowest = min(row["escape"] for row in rows)
    tied = [row for row in rows if not escapes_differ(row["escape"], lowest, len(families))]
    chosen = min(tied, key=lambda row: (-round(row["pauroc_10"], 9), row["cost"]))
    rest = sorted((row for row in rows if row is not chosen), key=_rank)
    best = [row for row in tied if round(row["pauroc_10"], 9) == round(chosen["pauroc_10"], 9)]
    decided = "escape" if len(tied) == 1 else "partial AUROC" if len(best) == 1 else "lighter model"
    return chosen["candidate"], [chosen, *rest], decided


REGIONS_RANK = ("AUROC on the held-out golden images against synthetic defects of families neither map trains on: "
                "the larger share only where it is higher by more than two standard errors (Hanley and McNeil)")


def auroc_se(auroc: float, n_good: int, n_bad: int) -> float:
    """Hanley and McNeil's (Radiology, 1982) standard error of an AUROC measured on ``n_good`` and ``n_bad`` samples."""
    q1, q2 = auroc / (2 - auroc), 2 * auroc**2 / (1 + auroc)
    variance = auroc * (1 - auroc) + (n_bad - 1) * (q1 - auroc**2) + (n_good - 1) * (q2 - auroc**2)
    return float(np.sqrt(max(variance, 0.0) / max(n_good * n_bad, 1)))


def judge_regions(statistics: dict[float, tuple[np.ndarray, np.ndarray, float]], families: Sequence[str]
                  ) -> tuple[float, list[dict[str, Any]]]:
    """Choose the local model's share of large-region defects: each share's (held-out, defect statistics, R**2).

    The maps differ only in what they trained on, so they are ranked, not
    judged at their radius (set on a few dozen held-out images, the escape
    rate there follows the golden tail more than the map: castings, seeds
    0-2, local/casting-regions-choice-probe.txt). The smallest share is kept
    unless a larger one's AUROC is higher by more than two of the smallest
    share's standard errors (:func:`auroc_se`): regions cost the thin
    defects the local model is for. Returns the share and the rows, chosen first.
    """
    rows = {share: figures(f"{share:g}", good, bad, r2, families, 1) for share, (good, bad, r2) in statistics.items()}
    base = min(rows)
    good, bad, _ = statistics[base]
    bar = rows[base]["auroc"] + 2 * auroc_se(rows[base]["auroc"], len(good), len(bad))
    best = max(rows, key=lambda share: rows[share]["auroc"])
    chosen = best if rows[best]["auroc"] > bar else base
    return chosen, [rows[chosen], *sorted((r for s, r in rows.items() if s != chosen), key=lambda r: -r["auroc"])]
