"""Summaries of recipe results: mean +- std over seeds, a markdown table beside the paper, a bar plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inspect_svdd.deploy.info import decided_before_training, kind_decision


def _mean_std(values: list[float]) -> str:
    pct = 100 * np.asarray(values)
    return f"{pct.mean():.1f} ± {pct.std():.1f}" if len(pct) > 1 else f"{pct.mean():.1f}"


def summarise(doc: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    """``{case: {"deep-svdd": [auroc per seed], "<baseline>": [...]}}`` in case order."""
    out: dict[str, dict[str, list[float]]] = {}
    for run in doc["runs"]:
        row = out.setdefault(run["case"], {})
        row.setdefault("deep-svdd", []).append(run["auroc"])
        for name, base in run.get("baselines", {}).items():
            row.setdefault(name, []).append(base["auroc"])
    return dict(sorted(out.items(), key=lambda kv: (not kv[0].isdigit(), int(kv[0]) if kv[0].isdigit() else 0, kv[0])))


def markdown(doc: dict[str, Any]) -> str:
    """AUROC (%) per case: Deep SVDD, the paper's figure, baselines; mean row; timing line."""
    rows = summarise(doc)
    methods = list(dict.fromkeys(m for row in rows.values() for m in row))
    paper = doc.get("paper_auroc") or {}
    head = ["case", *methods] + (["paper"] if paper else [])
    polluted = f" / pollution {100 * doc['pollution']:g} %" if doc.get("pollution") else ""
    lines = [f"AUROC (%), {doc['recipe']} / setting `{doc['setting']}` / size `{doc['size']}`{polluted}, "
             f"mean ± std over seeds ({max((len(r['deep-svdd']) for r in rows.values()), default=0)} per case)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case, row in rows.items():
        cells = [_mean_std(row[m]) if m in row else "" for m in methods]
        ref = ([f"{paper[case]:.1f}"] if case in paper else [""]) if paper else []
        lines.append("| " + " | ".join([case, *cells, *ref]) + " |")
    if len(rows) > 1:
        means = [_mean_std([float(np.mean(row[m])) for row in rows.values() if m in row]) for m in methods]
        covered = [paper[c] for c in rows if c in paper]
        tail = [f"{np.mean(covered):.1f}"] if paper and covered else [""] if paper else []
        lines.append("| **mean** | " + " | ".join(means + tail) + " |")
    seconds = [r["train_seconds"] for r in doc["runs"]]
    lines += ["", f"Deep SVDD training time: {sum(seconds) / 60:.1f} min in all, {np.mean(seconds):.0f} s per run "
              f"({len(seconds)} runs, {doc.get('torch_threads', '?')} torch threads)."]
    for run in doc["runs"]:
        if decided_before_training(run.get("model_kind", {})):  # --model-kind auto
            lines += ["", f"Model kind ({run['case']}, seed {run['seed']}): **{kind_decision(run['model_kind'])}**."]
        elif "model_kind" in run:  # --model-kind both: both kinds fitted, one kept
            choice = run["model_kind"]
            lines += ["", f"Model kind ({run['case']}, seed {run['seed']}): **{choice['chosen']}** kept; validation "
                          "defects passing at each kind's radius: "
                          + ", ".join(f"{r['candidate']} {100 * r['escape']:.1f} % (validation AUROC {100 * r['auroc']:.1f}, "
                                      f"partial AUROC {100 * r['pauroc_10']:.1f})" for r in choice["candidates"])
                          + f" ({choice['judged_on']['defects']} defects: {', '.join(choice['judged_on']['families'])})."
                          + (f" Rank: {choice['rank']}." if "rank" in choice else "")]
    lines += _rules_table(doc["runs"])
    lines += _boundary_table(doc["runs"])
    turned = [r["rotation_score"]["auroc"] for r in doc["runs"] if "rotation_score" in r]
    if turned:
        lines += ["", f"The rotation task's own score (its loss summed over each image's four turns; not exported): "
                      f"AUROC {_mean_std(turned)} %."]
    groups = [r for r in doc["runs"] if "groups" in r]
    if groups:
        lines += ["", "| defect type | images | AUROC (%) | escape rate at R |", "|---|---|---|---|"]
        for name in groups[0]["groups"]:
            g = [r["groups"][name] for r in groups]
            lines.append(f"| {name} | {g[0]['count']} | {_mean_std([x['auroc'] for x in g])} | "
                         f"{100 * np.mean([x['escape_rate'] for x in g]):.1f} % |")
        lines.append(f"| all defects | | {_mean_std([r['auroc'] for r in groups])} | "
                     f"{100 * np.mean([r['test_escape_rate'] for r in groups]):.1f} % |")
        lines += ["", f"False-reject rate on test/good at the fitted radius: "
                  f"{100 * np.mean([r['test_false_reject_rate'] for r in groups]):.1f} %."]
    lines += _screening_lines(doc["runs"])
    return "\n".join(lines) + "\n"


def _screening_lines(runs: list[dict[str, Any]]) -> list[str]:
    """Golden-set screening against the planted anomalies of a polluted run (recall, precision), per run."""
    polluted = [r for r in runs if "screening" in r]
    if not polluted:
        return []
    lines = ["", "Golden-set screening of the training set (anomalies planted, unlabelled; none on a clean folder):", "",
             "| case | seed | planted | suspects | found | recall | precision | dropped and refitted |",
             "|---|---|---|---|---|---|---|---|"]

    def pct(v: float) -> str:
        return "n/a" if v != v else f"{100 * v:.1f} %"  # NaN: nothing flagged

    for r in polluted:
        s = r["screening"]
        lines.append(f"| {r['case']} | {r['seed']} | {s['planted']} | {s['suspects']} | {s['found']} | {pct(s['recall'])} | "
                     f"{pct(s['precision'])} | {s['dropped']} |")
    return lines


def _rules_table(runs: list[dict[str, Any]]) -> list[str]:
    """Every scoring rule on the same trained encoders (mean over runs); empty for runs made before rules existed."""
    with_rules = [r for r in runs if "rules" in r]
    if not with_rules:
        return []
    lines = ["", "Every scoring rule on the same trained encoders (the model's own rule first; rates at each rule's "
             "radius set from good images only; the last column is an oracle figure, the threshold set on test/good):",
             "", "| rule | AUROC (%) | false reject at R | escape at R | escape at 2 % test false rejects |",
             "|---|---|---|---|---|"]
    keys = list(dict.fromkeys(k for r in with_rules for k in r["rules"]))  # a rule fit chose may differ per run
    for rule in keys:
        rs = [r["rules"][rule] for r in with_rules if rule in r["rules"]]
        label = rule if len(rs) == len(with_rules) else f"{rule} ({len(rs)} of {len(with_rules)} runs)"
        lines.append(f"| {label} | {_mean_std([x['auroc'] for x in rs])} | "
                     f"{100 * np.mean([x['test_false_reject_rate'] for x in rs]):.1f} % | "
                     f"{100 * np.mean([x['test_escape_rate'] for x in rs]):.1f} % | "
                     f"{100 * np.mean([x['escape_at_2pct_test_frr'] for x in rs]):.1f} % |")
    return lines


def _boundary_table(runs: list[dict[str, Any]]) -> list[str]:
    """Precision and recall of each method's own verdicts (mean over runs); empty for runs made before they were kept."""
    first = runs[0] if runs else {}
    def own(run: dict[str, Any]) -> str:  # the rule the model scored with (fit's choice when it chose)
        return str(run.get("chosen_config", run.get("config", {})).get("score", {}).get("rule", ""))

    if "precision" not in first.get("rules", {}).get(own(first), {}):
        return []
    rows = {"deep-svdd (at R)": [r["rules"][own(r)] for r in runs]}
    for name in first.get("baselines", {}):
        rows[f"{name} (own boundary)"] = [r["baselines"][name] for r in runs]
    lines = ["", "Verdicts at each method's own decision boundary, anomalies as the positive class (Deep SVDD at its "
             "radius R; Isolation Forest at contamination='auto'; One-Class SVM at nu = 0.1), mean over runs:", "",
             "| method | AUROC (%) | precision (%) | recall (%) | F1 (%) |", "|---|---|---|---|---|"]
    for name, rs in rows.items():
        lines.append(f"| {name} | {_mean_std([x['auroc'] for x in rs])} | "
                     + " | ".join(f"{100 * np.mean([x[k] for x in rs]):.1f}" for k in ("precision", "recall", "f1")) + " |")
    return lines


def plot(doc: dict[str, Any], path: str | Path) -> Path:
    """Bar plot of per-case AUROC, ours (mean, std whiskers) next to the paper's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summarise(doc)
    paper = doc.get("paper_auroc") or {}
    cases = list(rows)
    x = np.arange(len(cases))
    ours = [100 * np.mean(rows[c]["deep-svdd"]) for c in cases]
    err = [100 * np.std(rows[c]["deep-svdd"]) for c in cases]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(cases) + 2), 3.2))
    width = 0.4 if paper else 0.6
    ax.bar(x - (width / 2 if paper else 0), ours, width, yerr=err, label="inspect-svdd", color="tab:blue")
    if paper:
        ax.bar(x + width / 2, [paper.get(c, np.nan) for c in cases], width, label="Ruff et al. 2018", color="tab:gray")
    ax.set_xticks(x, cases)
    ax.set_ylim(min(50.0, float(min(ours)) - 5), 100)
    ax.set_ylabel("AUROC (%)")
    ax.set_title(f"{doc['recipe']} / {doc['setting']} / {doc['size']}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_reports(doc: dict[str, Any], json_path: str | Path) -> tuple[Path, Path]:
    """Write ``.md`` and ``.png`` beside the results JSON."""
    json_path = Path(json_path)
    md = json_path.with_suffix(".md")
    md.write_text(markdown(doc))
    return md, plot(doc, json_path.with_suffix(".png"))


def proxy_markdown(table: dict[str, Any]) -> str:
    """Markdown of a selection proxy table (:func:`inspect_svdd.bench.runner.proxy_table`): validation beside test."""
    judged = table.get("judged_on") or {}
    lines = [f"Scorer selection judged on {judged.get('held_out')} held-out golden images and {judged.get('defects')} "
             f"validation defects ({', '.join(judged.get('families', []))}); chosen **{table['chosen']}**, best on the "
             f"real test set in hindsight **{table['best_in_hindsight']}**.", "",
             "| candidate | validation escape at R | validation AUROC | test AUROC | test escape at R | test false reject at R |",
             "|---|---|---|---|---|---|"]
    for c in table["candidates"]:
        t = c["test"]
        lines.append(f"| {c['candidate']} | {c['escape']:.1%} | {100 * c['auroc']:.1f} | {100 * t['auroc']:.1f} | "
                     f"{t['test_escape_rate']:.1%} | {t['test_false_reject_rate']:.1%} |")
    families = list(table["candidates"][0].get("escape_per_family", {})) if table["candidates"] else []
    if families:
        lines += ["", "Validation escape per synthetic family:", "",
                  "| candidate | " + " | ".join(families) + " |", "|---|" + "---|" * len(families)]
        lines += [f"| {c['candidate']} | " + " | ".join(f"{c['escape_per_family'][f]:.0%}" for f in families) + " |"
                  for c in table["candidates"]]
    return "\n".join(lines) + "\n"
