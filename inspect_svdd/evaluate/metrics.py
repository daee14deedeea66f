"""Metrics of anomaly scores against labels, all from scikit-learn; the recipes' tables use the same functions.

Scores follow the toolkit's convention: higher = more anomalous, > 0 = fail
(outside the radius). Anomalies are the positive class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    roc_auc_score,
)

from inspect_svdd.errors import DatasetError


def ranking(anomalous: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """AUROC and AUPR of ``scores`` (anomalies positive).

    Raises:
        DatasetError: the labels hold only one class.
    """
    if anomalous.all() or not anomalous.any():
        raise DatasetError("the test set needs both normal and anomalous images")
    return {"auroc": float(roc_auc_score(anomalous, scores)), "aupr": float(average_precision_score(anomalous, scores))}


def f1_max(anomalous: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """The best F1 over all thresholds and the score threshold that reaches it (fail where score >= threshold)."""
    precision, recall, thresholds = precision_recall_curve(anomalous, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = int(np.argmax(f1))
    return {"f1_max": float(f1[best]), "f1_threshold": float(thresholds[best])}


def at_radius(anomalous: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Verdicts at the model's radius (fail where score > 0): rates and confusion counts."""
    failed = scores > 0
    tn, fp, fn, tp = confusion_matrix(anomalous, failed, labels=[False, True]).ravel()
    return {
        "f1": float(f1_score(anomalous, failed, zero_division=0.0)),
        "false_reject_rate": float(fp / max(tn + fp, 1)),
        "escape_rate": float(fn / max(tp + fn, 1)),
        "precision": float(tp / max(tp + fp, 1)),
        "recall": float(tp / max(tp + fn, 1)),
        "confusion": {"good_passed": int(tn), "good_rejected": int(fp), "defects_passed": int(fn),
                      "defects_failed": int(tp)},
    }


def evaluation(groups: Sequence[str], scores: np.ndarray, good: str = "good") -> dict[str, Any]:
    """Everything ``evaluate`` reports: overall and per defect type (each type against the good images).

    Args:
        groups: the label folder of each image (``good`` or a defect type).
        scores: the images' scores (``distance - R**2``).
    """
    labels = np.asarray(groups)
    anomalous = labels != good
    out: dict[str, Any] = {"count": len(labels), "good": int((~anomalous).sum()), "defects": int(anomalous.sum()),
                           **ranking(anomalous, scores), **f1_max(anomalous, scores), **at_radius(anomalous, scores)}
    out["per_type"] = {}
    for group in sorted(set(labels[anomalous])):
        mask = ~anomalous | (labels == group)
        out["per_type"][group] = {"count": int((labels == group).sum()),
                                  **ranking(anomalous[mask], scores[mask]),
                                  **at_radius(anomalous[mask], scores[mask])}
    return out
