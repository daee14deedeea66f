"""A pollution sweep's summary: one row per setting, one column per pollution rate, from several results files.

Each results file is one ``recipe run`` (one setting at one pollution rate,
``--pollution``); the cells are means over its cases and seeds.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from inspect_svdd.errors import DatasetError


def _cells(docs: list[tuple[str, dict[str, Any]]],
           rename: dict[str, str]) -> dict[str, dict[float, list[dict[str, Any]]]]:
    first_name, first = docs[0]
    cells: dict[str, dict[float, list[dict[str, Any]]]] = defaultdict(dict)
    for name, doc in docs:
        differ = [k for k in ("recipe", "size") if doc.get(k) != first.get(k)]
        if differ:
            raise DatasetError(f"{name}: differs from {first_name} in {', '.join(differ)}; a sweep is one recipe at one size")
        pollution = _rate(name, doc)
        row = rename.get(doc["setting"], doc["setting"])
        if pollution in cells[row]:
            raise DatasetError(f"{name}: setting {row} at {100 * pollution:g} % pollution is given twice")
        cells[row][pollution] = doc["runs"]
    return cells


def _rate(name: str, doc: dict[str, Any]) -> float:
    """The run's pollution rate: ``--pollution``, else the one its setting set (recorded per run), else 0."""
    if doc.get("pollution") is not None:
        return float(doc["pollution"])
    rates = {float(r["pollution"]["rate"]) for r in doc["runs"] if isinstance(r.get("pollution"), dict)}
    if len(rates) > 1:
        raise DatasetError(f"{name}: runs at several pollution rates ({', '.join(map(str, sorted(rates)))})")
    return rates.pop() if rates else 0.0


def _screening(runs: list[dict[str, Any]]) -> str:
    figures = [r["screening"] for r in runs if r.get("screening")]
    planted = sum(f["planted"] for f in figures)
    if not planted:  # a clean folder: what screening cost is the good images it dropped
        return f"none planted, {sum(f['dropped'] for f in figures)} dropped" if figures else ""
    found, flagged = sum(f["found"] for f in figures), sum(f["suspects"] for f in figures)
    return f"{found} of {planted} ({found / planted:.0%}), precision {found / max(flagged, 1):.0%}"


def _figures(runs: list[dict[str, Any]]) -> str:
    auroc, escape = (100 * np.mean([r[k] for r in runs]) for k in ("auroc", "test_escape_rate"))
    return f"{auroc:.1f} / {escape:.1f}"


def sweep_markdown(docs: list[tuple[str, dict[str, Any]]], rename: dict[str, str] | None = None) -> str:
    """Markdown tables of test AUROC and escape rate at the fitted radius, and the screening's recall, per cell.

    ``rename`` maps a results file's setting to the row it belongs in: a recipe
    setting that fixes its own pollution rate (casting's ``pollution-5``) is the
    same method as ``toolkit`` run with ``--pollution 0.05``.
    """
    if not docs:
        raise DatasetError("no results files to summarise")
    rename = rename or {}
    cells = _cells(docs, rename)
    rates = sorted({p for row in cells.values() for p in row})
    head = "| setting | " + " | ".join(f"{100 * p:g} %" for p in rates) + " |"
    rule = "|---|" + "---|" * len(rates)
    first = docs[0][1]
    cases = sorted({str(r["case"]) for row in cells.values() for runs in row.values() for r in runs})
    lines = [f"Pollution sweep, {first['recipe']} / size `{first['size']}`, cases {', '.join(cases)}: mean test AUROC "
             "(%) / escape rate at the fitted radius (%), over cases and seeds", "", head, rule]
    if rename:
        lines[1:1] = ["", "Rows renamed: " + ", ".join(f"`{old}` as `{new}`" for old, new in rename.items())]
    for setting, row in cells.items():
        shown = [_figures(row[p]) if p in row else "" for p in rates]
        lines.append(f"| {setting} | " + " | ".join(shown) + " |")
    screened = {s: {p: _screening(row[p]) for p in rates if p in row} for s, row in cells.items()}
    if any(v for row in screened.values() for v in row.values()):
        lines += ["", "Golden-set screening: planted anomalies flagged (recall), and the share of suspects that were "
                  "planted (precision), summed over cases and seeds (on a clean folder: the golden images dropped)",
                  "", head, rule]
        lines += [f"| {s} | " + " | ".join(row.get(p, "") for p in rates) + " |" for s, row in screened.items()]
    return "\n".join(lines) + "\n"
