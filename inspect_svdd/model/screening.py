"""Golden-set screening: which golden images lie far outside the rest (issue 26).

A golden folder is whatever someone copied from the good bin, so a few
defective parts may be in it. After training, every golden image gets a
statistic from each cheap scorer on the trained encoder (the candidates of
:mod:`inspect_svdd.model.selection`), computed without itself (a training
image is left out of the k-NN bank; a held-out image was never trained on).
No single scorer sees every kind of defect (on casting, measured: k-NN on the
stage features finds the most planted defects, Mahalanobis on the embedding
the most held-out ones), so an image is a suspect when any scorer puts it far
outside the rest. The statistics are positive and
right-skewed, so the rule works on their logarithms, robustly: an image is a
suspect when its log statistic lies more than ``z`` robust standard
deviations (1.4826 x the median absolute deviation) above the median of its
group (the training images, which the encoder pulled in, and the held-out
ones are judged apart). The
same record names the most and the least typical golden images, which tell
a user what the model considers a normal part.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from inspect_svdd.config import ScoreConfig
from inspect_svdd.model.heads import ScoreHead, feature_slice, member_config
from inspect_svdd.model.hypersphere import log_median_mad
from inspect_svdd.model.nets import worst_tile

TYPICAL = 3  # how many most and least typical images the record names
MIN_IMAGES = 8  # below this, a median and a MAD say nothing


def _threshold(stats: np.ndarray, z: float) -> float:
    median, sigma = log_median_mad(stats)
    return float(np.exp(median + z * max(sigma, 1e-6)))


def _ranked(relative: np.ndarray) -> dict[str, Any]:
    """Suspects (above 1, worst first), the relative statistics, the most and least typical images."""
    order = np.argsort(relative)
    return {"suspects": [int(i) for i in order[::-1] if relative[i] > 1],
            "relative": [round(float(v), 4) for v in relative],
            "most_typical": [int(i) for i in order[:TYPICAL]], "least_typical": [int(i) for i in order[::-1][:TYPICAL]]}


def screen(statistics: np.ndarray, z: float, groups: np.ndarray | None = None) -> dict[str, Any]:
    """The screening record of golden statistics (one per golden image, in the fit's image order).

    ``groups`` labels each image's group (training, held-out): the encoder
    pulled its training images in, so their statistics run lower than the
    held-out ones', and each group is judged against its own median and MAD.
    Returns the rule, the thresholds, the suspects' indices (worst first),
    each image's statistic in units of its group's threshold, and the most and
    least typical images' indices.
    """
    stats = np.asarray(statistics, dtype=np.float64)
    labels = np.zeros(len(stats), int) if groups is None else np.asarray(groups)
    sizes = {int(g): int(np.sum(labels == g)) for g in np.unique(labels)}
    if z <= 0 or max(sizes.values(), default=0) < MIN_IMAGES:
        why = "off (screen_z 0)" if z <= 0 else f"too few golden images ({max(sizes.values(), default=0)} < {MIN_IMAGES})"
        return {"rule": why, "suspects": []}
    # a group too small for a median and a MAD (a few held-out images) is not screened
    thresholds = {g: _threshold(stats[labels == g], z) if n >= MIN_IMAGES else float("inf") for g, n in sizes.items()}
    relative = stats / np.array([thresholds[int(g)] for g in labels])
    finite = [t for t in thresholds.values() if np.isfinite(t)]
    return {"rule": f"log statistic above median + {z:g} x 1.4826 MAD, training and held-out images apart", "z": z,
            "threshold": max(finite), "thresholds": [t if np.isfinite(t) else None for t in thresholds.values()],
            "unscreened": sum(n for g, n in sizes.items() if not np.isfinite(thresholds[g])), **_ranked(relative)}


def remapped(record: dict[str, Any], kept: np.ndarray, count: int) -> dict[str, Any]:
    """A refit's record in the indices of the original ``count`` images (``kept``: the refit's images among them)."""
    out = dict(record)
    for key in ("suspects", "most_typical", "least_typical"):
        if key in record:
            out[key] = [int(kept[i]) for i in record[key]]
    if "relative" in record:
        full: list[float | None] = [None] * count
        for i, value in zip(kept, record["relative"], strict=True):
            full[int(i)] = value
        out["relative"] = full
    return out


def with_names(record: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The record with each index replaced by its file name and statistic (in units of the threshold)."""
    relative = record.get("relative") or []
    named = {k: v for k, v in record.items() if k not in ("relative", "before_drop")}
    for key in ("suspects", "most_typical", "least_typical"):
        if key in record:
            named[key] = [{"file": names[i], "relative": relative[i] if i < len(relative) else None} for i in record[key]]
    if "before_drop" in record:  # the first fit's suspects were measured there
        first = record["before_drop"]
        named["dropped"] = [{"file": names[i], "relative": first["relative"][i]} for i in record["dropped"]]
    return named


def screen_any(tables: dict[str, np.ndarray], z: float, groups: np.ndarray | None = None) -> dict[str, Any]:
    """Screen with several scorers' statistics (name -> one per image): a suspect is far out on at least one.

    ``relative`` is each image's largest statistic in units of that scorer's
    threshold; ``flagged_by`` names, per suspect, the scorers that flag it.
    """
    records = {name: screen(stats, z, groups) for name, stats in tables.items()}
    first = next(iter(records.values()))
    if "threshold" not in first:
        return first
    ranked = _ranked(np.max([r["relative"] for r in records.values()], axis=0))
    return {"rule": f"{first['rule']}, on any of {len(records)} scorers ({', '.join(records)})", "z": z,
            "threshold": first["threshold"], **ranked,
            "flagged_by": {str(i): [n for n, r in records.items() if i in r["suspects"]] for i in ranked["suspects"]}}


def golden_statistics(head_config: ScoreConfig, candidates: tuple[str, ...], center: torch.Tensor, train: torch.Tensor,
                      held_out: torch.Tensor, stage_dim: int, tiles: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each candidate scorer's statistics of the training images (left out of the bank) and the held-out ones.

    ``train`` and ``held_out`` are ``both`` features (per tile, in order).
    """
    out = {}
    for name in candidates:
        member = member_config(head_config, name)
        if member.rule == "knn" and len(train) <= member.k + 1:
            continue
        where = feature_slice(member.feature_kind, stage_dim)
        head = ScoreHead.fit(member, train[:, where], center)
        with torch.no_grad():
            own = worst_tile(head(train[:, where], exclude_self=True), tiles).numpy()
            held = worst_tile(head(held_out[:, where]), tiles).numpy() if len(held_out) else np.empty(0)
        out[name] = (own.astype(np.float64), held.astype(np.float64))
    return out
