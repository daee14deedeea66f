"""One self-contained HTML page of an evaluation, readable on a laptop and from a USB stick.

Model card with the training-loss curves, the metrics tables, ROC and PR
curves, score histograms per defect type, grids of the most and least
anomalous good and defective parts, and the heat-map gallery of the
failures. Every picture is embedded as data (PNG or JPEG), and the page
refers to nothing outside itself.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspect_svdd.config import input_label
from inspect_svdd.deploy.info import decided_before_training, kind_decision, registration_text, scorer_text, training_text
from inspect_svdd.errors import InspectError
from inspect_svdd.evaluate import plots
from inspect_svdd.io.images import decode_image

GRID = 8  # images per grid
GALLERY = 48  # heat maps shown at most
STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
         ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:8px}"
         ".grid figure{margin:0}.grid img{width:100%;height:auto;display:block}"
         "figcaption{font-size:12px;word-break:break-all}.fail{color:#b00}.pass{color:#070}img{max-width:100%}")


@dataclass(frozen=True)
class Scored:
    """The scored images of an evaluation, in one order."""

    paths: Sequence[str]
    groups: Sequence[str]
    scores: np.ndarray


def _data_uri(picture: np.ndarray, side: int = 200) -> str:
    """JPEG data URI of an RGB image scaled to at most ``side`` pixels."""
    scale = side / max(picture.shape[:2])
    if scale < 1:
        picture = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if picture.ndim == 3 and picture.shape[2] == 3:
        picture = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise InspectError("cannot encode a thumbnail for the report")
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode("ascii")


def _figure(path: str | Path, label: str, score: float) -> str:
    try:
        src = _data_uri(decode_image(path))
    except InspectError as exc:
        return f"<figure><figcaption>{html.escape(str(exc))}</figcaption></figure>"
    verdict = "fail" if score > 0 else "pass"
    return (f'<figure><img alt="{html.escape(Path(path).name)}" src="{src}"><figcaption><b class="{verdict}">'
            f"{verdict} {score:+.3g}</b> {html.escape(label)}<br>{html.escape(Path(path).name)}</figcaption></figure>")


def _grid(title: str, items: Sequence[tuple[str, str, float]]) -> str:
    if not items:
        return ""
    return f"<h3>{html.escape(title)}</h3><div class='grid'>{''.join(_figure(*item) for item in items)}</div>"


def _grids(scored: Scored) -> str:
    order = np.argsort(-scored.scores, kind="stable")
    out = []
    for name, is_good in (("good parts", True), ("defective parts", False)):
        picked = [(scored.paths[i], scored.groups[i], float(scored.scores[i]))
                  for i in order if (scored.groups[i] == "good") == is_good]
        out.append(_grid(f"Most anomalous {name} (highest scores)", picked[:GRID]))
        out.append(_grid(f"Least anomalous {name} (lowest scores)", picked[::-1][:GRID]))
    return "".join(out)


def _gallery(scored: Scored, heatmaps: Mapping[str, Path]) -> str:
    if not heatmaps:
        return "<p>No heat maps (no image failed, or evaluate ran with --no-heatmaps).</p>"
    index = {p: i for i, p in enumerate(scored.paths)}
    ranked = sorted(heatmaps, key=lambda p: -float(scored.scores[index[p]]))
    items = [(str(heatmaps[p]), scored.groups[index[p]], float(scored.scores[index[p]]))
             for p in ranked[:GALLERY]]
    more = f"<p>{len(ranked) - GALLERY} more next to this report, in heatmaps/.</p>" if len(ranked) > GALLERY else ""
    return _grid(f"Failed images, most anomalous first ({len(ranked)})", items) + more


def _table(rows: Sequence[tuple[str, Any]]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))

    return "<table>" + "".join(f"<tr><td>{html.escape(k)}</td><td>{cell(v)}</td></tr>" for k, v in rows) + "</table>"


def _model_card(record: Mapping[str, Any] | None) -> str:
    if not record:
        return "<p>Only the ONNX file was given: no model card.</p>"
    cfg, train = record.get("config", {}), record.get("training", {})
    score, fit = cfg.get("score", {}), cfg.get("train", {})
    pre, local = cfg.get("preprocess", {}), cfg.get("local", {})
    rows: list[tuple[str, Any]] = [
        ("created", record.get("created", "")), ("golden folder", train.get("folder", "")),
        ("golden images (fit / held out for R)", f"{record.get('holdout', {}).get('train_count', '?')} / "
                                                 f"{record.get('holdout', {}).get('count', '?')}"),
        ("input", f"{input_label(pre)} px, {pre.get('channels')} channel(s), roi {pre.get('roi')}, "
                  f"frame {pre.get('frame_size')}"),
        ("registration", registration_text(dict(record.get("alignment") or {}))),
        ("training", training_text(dict(record), fit, local)),
        ("scoring rule", scorer_text(dict(record), score, local)),
        ("radius R", float(record.get("radius", float("nan")))),
        ("radius set by", record.get("calibration", {}).get("how", {}).get("rule")
         or f"{fit.get('radius_rule')} on held-out golden images, target false-reject rate {fit.get('target_frr')}"),
        ("fingerprint", record.get("fingerprint", "")),
    ]
    curve = plots.losses(record.get("history", []))
    img = f'<img alt="training loss" src="data:image/png;base64,{curve}">' if curve else ""
    selection = record.get("selection") or {}
    return (_table(rows) + img + _kind(selection.get("model_kind") or {}) + _selection(selection)
            + _selection(selection.get("local_regions") or {}, "Share of large-region defects chosen by fit")
            + _screening(record))


def _golden_figure(folder: Path, entry: Mapping[str, Any]) -> str:
    """A golden image's thumbnail (from the golden folder fit read) with its screening statistic."""
    name = str(entry.get("file", "?"))
    relative = entry.get("relative")
    caption = f"{relative:.2f}x threshold" if isinstance(relative, float | int) else "statistic not recorded"
    try:
        img = f'<img alt="{html.escape(name)}" src="{_data_uri(decode_image(folder / name))}">'
    except InspectError as exc:  # the golden folder moved or the file is gone: say so, keep the page
        img, caption = "", f"{caption}; {exc}"
    return f"<figure>{img}<figcaption>{html.escape(caption)}<br>{html.escape(name)}</figcaption></figure>"


def _screening(record: Mapping[str, Any]) -> str:
    """Golden-set screening: the suspects (and any dropped), the least and the most typical golden images."""
    screening = record.get("screening") or {}
    if "most_typical" not in screening:
        return ""
    folder = Path(str(record.get("training", {}).get("folder", ".")))
    parts = [("Suspect golden images, far outside the rest", screening.get("suspects", [])),
             ("Dropped before the refit (--drop-suspects)", screening.get("dropped", [])),
             ("Least typical golden images", screening.get("least_typical", [])[:GRID]),
             ("Most typical golden images", screening.get("most_typical", [])[:GRID])]
    threshold = screening.get("threshold")
    shown = f" ({threshold:.4g})" if isinstance(threshold, float) else ""
    intro = (f"<h3>Golden-set screening</h3><p>Each golden image scored against the others "
             f"({html.escape(str(screening.get('rule', '')))}); statistics in units of the screening threshold{shown}: "
             f"above 1 is a suspect. {len(screening.get('suspects', []))} suspect(s).</p>")
    grids = "".join(f"<h4>{html.escape(title)} ({len(items)})</h4><div class='grid'>"
                    + "".join(_golden_figure(folder, e) for e in items[:GALLERY]) + "</div>" for title, items in parts if items)
    return intro + grids


def _kind(choice: Mapping[str, Any]) -> str:
    """The model kind fit used: decided from the golden images' layout (``auto``), or judged on both (``both``)."""
    if decided_before_training(choice):
        return f"<h3>Model kind</h3><p>{html.escape(kind_decision(choice))}</p>"
    return _selection(choice, "Model kind chosen by fit")


def _selection(selection: Mapping[str, Any], title: str = "Scorer chosen by fit") -> str:
    """The candidates fit judged (scorers, the two kinds, or the local map's shares of regions), the kept one marked."""
    rows = selection.get("candidates")
    if not rows:
        return ""
    judged, chosen = selection.get("judged_on", {}), selection.get("chosen")
    kept = f"{chosen:g}" if isinstance(chosen, float) else chosen  # a share is recorded as a number, named as text
    head = ("<h3>{}</h3><p>Judged on {} held-out golden images and {} validation defects ({}); "
            "ranked by {}.</p>").format(html.escape(title), judged.get("held_out"), judged.get("defects"),
                                        html.escape(", ".join(judged.get("families", []))),
                                        html.escape(str(selection.get("rank", ""))))
    body = "".join(
        f"<tr><td>{html.escape(r['candidate'])}{' (chosen)' if r['candidate'] == kept else ''}</td>"
        f"<td>{round(r['escape'] * judged.get('defects', 0))} of {judged.get('defects')} ({r['escape']:.1%})</td>"
        f"<td>{r['false_reject']:.1%}</td><td>{r['pauroc_10']:.3f}</td><td>{r.get('auroc', float('nan')):.3f}</td></tr>"
        for r in rows)
    return (head + "<table><tr><th>candidate</th><th>defects passing at its radius</th><th>held-out false rejects</th>"
            "<th>partial AUROC (FPR &le; 0.1)</th><th>AUROC</th></tr>" + body + "</table>")


def rate_text(rate: float, total: int) -> str:
    """A rate as a count and a percentage: ``4 of 16 (25.0%)``."""
    return f"{round(rate * total)} of {total} ({rate:.1%})"


RATE_OF = {"false_reject_rate": "good", "escape_rate": "defects"}  # each rate's denominator in the metrics


def _overall(metrics: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The overall metrics, rates as counts of their images."""
    return [(k.replace("_", " "), rate_text(v, metrics[RATE_OF[k]]) if k in RATE_OF else v)
            for k, v in metrics.items() if isinstance(v, float | int) and k != "count"]


def _localisation(local: Mapping[str, Any] | None) -> str:
    if not local:
        return ""
    rows = [(k.replace("_", " "), rate_text(v, local["defects"]) if k == "hottest_region_hits" else v)
            for k, v in local.items() if k not in ("method", "per_type")]
    per_type = local.get("per_type") or {}
    table = ("<table><tr><th>defect type</th><th>defects</th><th>hottest region on the defect</th>"
             "<th>pixel AUROC (with the good images)</th></tr>" +
             "".join(f"<tr><td>{html.escape(kind)}</td><td>{f['defects']}</td>"
                     f"<td>{html.escape(rate_text(f['hottest_region_hits'], f['defects']))}</td>"
                     f"<td>{f['pixel_auroc']:.4g}</td></tr>" for kind, f in per_type.items()) +
             "</table>") if per_type else ""
    return (f"<h2>Localisation ({html.escape(local['method'])}) against the ground-truth masks</h2>" + _table(rows)
            + table)


def write_report(path: Path, title: str, scored: Scored, metrics: Mapping[str, Any],
                 record: Mapping[str, Any] | None = None, heatmaps: Mapping[str, Path] | None = None) -> Path:
    """Write ``path`` (HTML) for an evaluation's scores and metrics (from :func:`~.metrics.evaluation`).

    Args:
        record: the model's model.json, for the model card.
        heatmaps: overlay file per failed image path, for the gallery.
    """
    types = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{m['count']}</td><td>{m['auroc']:.4f}</td>"
        f"<td>{rate_text(m['escape_rate'], m['count'])}</td></tr>" for name, m in metrics.get("per_type", {}).items())
    anomalous = np.asarray(scored.groups) != "good"
    radius = float(metrics.get("radius", 1.0))
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<h2>Model</h2>{_model_card(record)}"
            f"<h2>Metrics</h2>{_table(_overall(metrics))}"
            "<h3>Per defect type (against the good parts)</h3>"
            f"<table><tr><th>type</th><th>images</th><th>AUROC</th><th>escape at R</th></tr>{types}</table>"
            f"{_localisation(metrics.get('localisation'))}<h2>Curves</h2>"
            f'<img alt="ROC and precision-recall curves" src="data:image/png;base64,{plots.curves(anomalous, scored.scores)}">'
            "<h2>Scores per defect type</h2>"
            f'<img alt="score histograms" src="data:image/png;base64,{plots.histograms(scored.groups, scored.scores, radius)}">'
            f"<h2>Parts</h2>{_grids(scored)}<h2>Heat maps of the failures</h2>{_gallery(scored, heatmaps or {})}"
            "</body></html>")
    path.write_text(page, encoding="utf-8")
    return path
