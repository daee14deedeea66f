"""Classic one-class baselines from scikit-learn, on raw pixels and on the trained encoder's features.

Every function returns anomaly scores where **higher means more anomalous**
and **above 0 means the method's own boundary calls it an outlier**, the
detector's convention (scikit-learn's ``decision_function`` is higher for
normal points and negative outside, so it is negated): Isolation Forest's
boundary is its ``contamination='auto'`` offset, the One-Class SVM's the
``nu`` boundary. Precision and recall at that boundary sit beside Deep SVDD's
at R.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from inspect_svdd.bench.data import subsample


def raw_pixels(images: np.ndarray) -> np.ndarray:
    """uint8 NHWC images as float rows in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def baseline_scores(name: str, train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    """Fit baseline ``name`` (``isolation-forest`` or ``ocsvm``) on ``train`` rows, score ``test`` rows."""
    if name == "isolation-forest":
        forest = IsolationForest(n_estimators=100, random_state=seed).fit(train)
        return -forest.decision_function(test)
    if name == "ocsvm":  # RBF kernel, gamma 'scale', nu 0.1 as in the paper's comparison
        scaler = StandardScaler().fit(train)
        svm = OneClassSVM(kernel="rbf", gamma="scale", nu=0.1).fit(scaler.transform(train))
        return -svm.decision_function(scaler.transform(test))
    raise ValueError(f"unknown baseline {name!r}")


def run_baselines(names: tuple[str, ...], inputs: dict[str, tuple[np.ndarray, np.ndarray]], limit: int,
                  seed: int) -> dict[str, dict[str, object]]:
    """Each baseline on each input (``{"pixels": (train, test), "features": ...}``).

    At most ``limit`` training rows are used (kernel methods scale with the
    square of the count); the count used is recorded.
    """
    results: dict[str, dict[str, object]] = {}
    for name in names:
        for input_name, (train, test) in inputs.items():
            rows = train[subsample(len(train), limit, seed)]
            start = time.perf_counter()
            scores = baseline_scores(name, rows, test, seed)
            results[f"{name}/{input_name}"] = {"scores": scores, "train_count": len(rows),
                                               "seconds": round(time.perf_counter() - start, 2)}
    return results
