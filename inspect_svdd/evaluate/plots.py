"""The report's figures, drawn with matplotlib and returned as PNG bytes (base64 text)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve


@contextmanager
def _figure(width: float, height: float, ncols: int = 1) -> Iterator[tuple[Any, Any, list[str]]]:
    """A figure and its axes; the PNG (base64) is appended to the yielded list when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    out: list[str] = []
    try:
        yield fig, axes[0], out
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        out.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    finally:
        plt.close(fig)


def curves(anomalous: np.ndarray, scores: np.ndarray) -> str:
    """ROC and precision-recall curves side by side."""
    fpr, tpr, _ = roc_curve(anomalous, scores)
    precision, recall, _ = precision_recall_curve(anomalous, scores)
    with _figure(9, 3.8, 2) as (_, axes, out):
        for ax, (name, x, y, xlabel, ylabel) in zip(axes, (
                ("ROC curve", fpr, tpr, "false-reject rate (good parts failed)", "defects caught"),
                ("precision-recall curve", recall, precision, "recall (defects caught)", "precision")), strict=True):
            ax.plot(x, y)
            ax.set(xlabel=xlabel, ylabel=ylabel, title=name, xlim=(0, 1), ylim=(0, 1.02))
    return out[0]


def histograms(groups: Sequence[str], scores: np.ndarray, radius: float, good: str = "good") -> str:
    """One histogram per defect type against the good parts, of distance / R² on a log axis (the radius at 1).

    A log axis keeps both the good parts near the radius and defects a
    hundred times outside it readable in one panel.
    """
    labels = np.asarray(groups)
    types: list[str | None] = [*sorted(set(labels) - {good})] or [None]  # good parts only: one panel of them
    cols = min(len(types), 3)
    rows = -(-len(types) // cols)
    relative = np.maximum(scores / max(radius**2, 1e-12) + 1, 1e-2)  # distance / R^2
    bins = np.geomspace(relative.min(), max(relative.max(), relative.min() * 1.01), 31).tolist()  # same for all panels
    scores = relative
    with _figure(4 * cols, 3 * rows) as (fig, _, out):
        fig.clear()
        for i, kind in enumerate(types):
            ax = fig.add_subplot(rows, cols, i + 1)
            ax.hist(scores[labels == good], bins=bins, alpha=0.6, label=good)
            if kind is not None:
                ax.hist(scores[labels == kind], bins=bins, alpha=0.6, label=kind, color="tab:red")
            ax.axvline(1, color="k", linestyle="--", label="radius")
            ax.set(xlabel="distance / R² (> 1 fails)", ylabel="images", title=kind or good, xscale="log")
            ax.legend(fontsize=8)
        fig.tight_layout()
    return out[0]


def losses(history: Sequence[dict[str, Any]]) -> str | None:
    """Training-loss curves, one panel per training stage (autoencoder pretraining, Deep SVDD)."""
    stages = list(dict.fromkeys(h["stage"] for h in history))
    if not stages:
        return None
    with _figure(4 * len(stages), 3, len(stages)) as (_, axes, out):
        for ax, stage in zip(axes, stages, strict=True):
            points = [(h["epoch"], h["loss"]) for h in history if h["stage"] == stage]
            ax.plot(*zip(*points, strict=True), marker=".")
            ax.set(xlabel="epoch", ylabel="loss", title=stage, yscale="log" if min(p[1] for p in points) > 0 else "linear")
    return out[0]
