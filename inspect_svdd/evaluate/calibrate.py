"""Choose the decision radius on labelled images: for a false-reject budget, an escape budget, or the best F1.

Works on the scoring rule's statistic (``distance``, compared with R**2), so the
result is a radius that both backends apply the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inspect_svdd.errors import DatasetError
from inspect_svdd.evaluate.metrics import at_radius, f1_max
from inspect_svdd.model.hypersphere import fit_radius

MARGIN = 1e-3  # relative: far above the float difference between ONNX Runtime and PyTorch, far below any spread


def calibrated_radius(distances: np.ndarray, anomalous: np.ndarray, how: str, value: float,
                      radius_rule: str) -> tuple[float, dict[str, Any]]:
    """The radius for ``how`` (``target-frr``, ``max-escape`` or ``f1``) and how it was found.

    ``target-frr`` needs only good images: the model's radius rule on their
    statistics (the log-normal rule extrapolates past the largest one).
    ``max-escape``: the largest radius that lets at most ``value`` of the
    defects pass. ``f1``: the threshold of the best F1.

    Raises:
        DatasetError: ``max-escape`` or ``f1`` without defective images, or
            ``target-frr`` without good ones.
    """
    good, bad = distances[~anomalous], distances[anomalous]
    if how == "target-frr":
        if not len(good):
            raise DatasetError("--target-frr needs good images (a good/ folder)")
        return fit_radius(good, value, radius_rule)
    if not len(bad) or not len(good):
        raise DatasetError(f"--{how} needs good images and defective ones (good/ and a defect folder); "
                           "with good images only, use --target-frr")
    if how == "max-escape":
        allowed = int(np.floor(value * len(bad)))  # defects that may pass: those at or below R^2
        sq = just_below(distances, float(np.sort(bad)[allowed]))  # the first defect that must fail
        return float(np.sqrt(max(sq, 0.0))), {"rule": "max-escape", "max_escape": value, "n_defects": len(bad)}
    threshold = f1_max(anomalous, distances)["f1_threshold"]  # fail where distance >= threshold
    return float(np.sqrt(just_below(distances, threshold))), {"rule": "f1", "n": len(distances)}


def just_below(distances: np.ndarray, first_fail: float, margin: float = MARGIN) -> float:
    """An R**2 that fails ``first_fail`` with a margin both backends respect, passing what lies clearly below it.

    The statistics were measured with one backend; the other computes them
    with another float path (relative differences ~1e-6), so a radius set a
    hair below a defect lets that defect pass on the other backend. ``margin``
    (relative) keeps clear of it, but never past the midpoint to the next
    statistic below, which must still pass.
    """
    lower = distances[distances < first_fail]
    below = first_fail * (1 - margin)
    return max(below, (float(lower.max()) + first_fail) / 2) if len(lower) else below


def rates(distances: np.ndarray, anomalous: np.ndarray, radius: float) -> dict[str, float | None]:
    """False-reject and escape rates at ``radius`` (an absent class gives None)."""
    out = at_radius(anomalous, distances - radius**2)
    return {"false_reject_rate": out["false_reject_rate"] if (~anomalous).any() else None,
            "escape_rate": out["escape_rate"] if anomalous.any() else None}
