"""One self-contained HTML page of an evaluation: metrics tables, ROC and PR curves, score histogram.

Plots are drawn with matplotlib and embedded as PNG data, so the page can be
mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figures(groups: Sequence[str], scores: np.ndarray) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    anomalous = np.asarray(groups) != "good"
    fpr, tpr, _ = roc_curve(anomalous, scores)
    precision, recall, _ = precision_recall_curve(anomalous, scores)
    out = []
    for name, x, y, xlabel, ylabel in (("ROC curve", fpr, tpr, "false-reject rate (good parts failed)", "defects caught"),
                                       ("precision-recall curve", recall, precision, "recall", "precision")):
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(x, y)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=name)
        out.append((name, _png(fig)))
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.histogram_bin_edges(scores, bins=40).tolist()  # the same bins for both classes
    ax.hist(scores[~anomalous], bins=bins, alpha=0.6, label="good")
    ax.hist(scores[anomalous], bins=bins, alpha=0.6, label="defects")
    ax.axvline(0, color="k", linestyle="--", label="radius (score 0)")
    ax.set(xlabel="score (distance - R²; > 0 fails)", ylabel="images", title="scores")
    ax.legend()
    out.append(("score histogram", _png(fig)))
    plt.close(fig)
    return out


def write_report(path: Path, title: str, groups: Sequence[str], scores: np.ndarray, metrics: dict[str, Any]) -> Path:
    """Write ``path`` (HTML) for an evaluation's scores and metrics (from :func:`~.metrics.evaluation`)."""
    rows = "".join(f"<tr><td>{html.escape(k.replace('_', ' '))}</td><td>{v:.4g}</td></tr>"
                   for k, v in metrics.items() if isinstance(v, float))
    types = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{m['count']}</td><td>{m['auroc']:.4f}</td><td>{m['escape_rate']:.1%}</td></tr>"
        for name, m in metrics.get("per_type", {}).items())
    figures = "".join(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"><figcaption>{alt}</figcaption></figure>'
                      for alt, data in _figures(groups, scores))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px}figure{display:inline-block;margin:1em}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><h2>Overall</h2><table>{rows}</table>"
            "<h2>Per defect type (against the good parts)</h2>"
            f"<table><tr><th>type</th><th>images</th><th>AUROC</th><th>escape at R</th></tr>{types}</table>"
            f"<h2>Plots</h2>{figures}</body></html>")
    path.write_text(page, encoding="utf-8")
    return path
