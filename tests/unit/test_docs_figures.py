"""Every figure quoted in README.md and docs/ appears in the committed result file it cites (issue 25)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("check_figures", ROOT / "scripts" / "check_figures.py")
assert spec is not None and spec.loader is not None
figures = importlib.util.module_from_spec(spec)
sys.modules["check_figures"] = figures
spec.loader.exec_module(figures)


def test_every_quoted_figure_is_in_the_file_it_cites() -> None:
    assert figures.open_problems() == []


def test_a_figure_changed_by_hand_is_caught(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    row = "casting: AUROC 99.7, 7.7 % of defects pass"
    assert row in readme
    edited = tmp_path / "README.md"
    edited.write_text(readme.replace(row, "casting: AUROC 99.7, 6.7 % of defects pass"))
    problems = [p.text for p in figures.check(edited)]
    assert len(problems) == 1 and problems[0].startswith("6.7 is not in ") and "casting-stages-frr-2pct-full.md" in problems[0]
    assert figures.check(ROOT / "README.md") == []


def test_a_figure_changed_by_hand_in_docs_is_caught(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    assert "mean\n**95.9 ± 2.6**" in text  # MNIST, the paper setting (mnist-paper-full.md)
    edited = tmp_path / "benchmarks.md"
    edited.write_text(text.replace("mean\n**95.9 ± 2.6**", "mean\n**96.9 ± 2.6**"))
    assert any(p.startswith(f"{edited}:") and "96.9 is not in" in p for p in figures.open_problems([edited]))


def test_figures_in_code_spans_and_whole_counts_are_not_figures() -> None:
    assert figures.figures("AUROC 98.5, 37.3 % pass, 2.9× slower, 4 of 16, `--target-frr 0.01`, Python 3.11") == [
        "98.5", "37.3", "2.9"]
