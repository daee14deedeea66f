"""Evaluation metrics (scikit-learn underneath) on hand-made scores."""

from __future__ import annotations

import numpy as np
import pytest

from inspect_svdd.errors import DatasetError
from inspect_svdd.evaluate.metrics import at_radius, evaluation, f1_max, ranking


def test_rates_and_confusion_at_the_radius() -> None:
    anomalous = np.array([False, False, False, False, True, True, True])
    scores = np.array([-1.0, -0.5, 0.2, -0.1, 0.5, -0.2, 3.0])  # one good rejected, one defect passing
    out = at_radius(anomalous, scores)
    assert out["confusion"] == {"good_passed": 3, "good_rejected": 1, "defects_passed": 1, "defects_failed": 2}
    assert out["false_reject_rate"] == 0.25 and out["escape_rate"] == pytest.approx(1 / 3)
    assert out["precision"] == pytest.approx(2 / 3) and out["recall"] == pytest.approx(2 / 3)


def test_f1_max_finds_the_separating_threshold() -> None:
    anomalous = np.array([False] * 5 + [True] * 3)
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.9, 1.0, 1.1])
    assert f1_max(anomalous, scores) == {"f1_max": 1.0, "f1_threshold": 0.9}
    assert ranking(anomalous, scores) == {"auroc": 1.0, "aupr": 1.0}
    with pytest.raises(DatasetError, match="both normal and anomalous"):
        ranking(anomalous[:5], scores[:5])


def test_evaluation_reports_each_defect_type_against_the_good_parts() -> None:
    groups = ["good"] * 4 + ["scratch"] * 2 + ["stain"] * 2
    scores = np.array([-1.0, -0.8, -0.6, -0.4, 1.0, 2.0, -0.9, 0.5])
    out = evaluation(groups, scores)
    assert (out["count"], out["good"], out["defects"]) == (8, 4, 4)
    assert out["per_type"]["scratch"]["auroc"] == 1.0 and out["per_type"]["scratch"]["escape_rate"] == 0.0
    assert out["per_type"]["stain"]["auroc"] == 0.625 and out["per_type"]["stain"]["escape_rate"] == 0.5


def test_calibrated_radius_rules() -> None:
    from inspect_svdd.evaluate.calibrate import calibrated_radius

    distances = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0])
    anomalous = np.array([False] * 4 + [True] * 4)
    radius, _ = calibrated_radius(distances, anomalous, "max-escape", 0.25, "quantile")  # one of four may pass
    assert 10.0 <= radius**2 < 20.0
    radius, _ = calibrated_radius(distances, anomalous, "f1", 1.0, "quantile")
    assert 4.0 <= radius**2 < 10.0  # the perfect split
    radius, facts = calibrated_radius(distances[:4], anomalous[:4], "target-frr", 0.25, "quantile")
    assert facts["rule"] == "quantile" and radius == pytest.approx(np.quantile(np.sqrt(distances[:4]), 0.75))


def test_a_calibrated_radius_keeps_a_margin_both_backends_respect() -> None:
    from inspect_svdd.evaluate.calibrate import MARGIN, calibrated_radius, just_below

    distances = np.array([1.0, 2.0, 3.0, 10.0, 20.0])
    anomalous = np.array([False, False, False, True, True])
    radius, _ = calibrated_radius(distances, anomalous, "max-escape", 0.0, "quantile")
    # the first defect must fail even when the other backend scores it 1e-5 lower (the old radius sat 1e-7 below it)
    assert radius**2 < 10.0 * (1 - 1e-5) and radius**2 == pytest.approx(10.0 * (1 - MARGIN))
    assert radius**2 > 3.0  # the good parts still pass
    close = np.array([9.9999, 10.0])  # a statistic just below the one that must fail stays on the pass side
    assert just_below(close, 10.0) == pytest.approx((9.9999 + 10.0) / 2)
