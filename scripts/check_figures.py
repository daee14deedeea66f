"""Check that every figure quoted in README.md and docs/*.md appears in the committed file it cites.

A *figure* is a number with a decimal point, or a number followed by ``%``, ``x`` or
``×`` (``98.5``, ``37.3 %``, ``2.9×``, ``0.958``); whole counts ("4 of 16") and names
with digits are not checked. A *block* is a paragraph, a list item or a table (a
table also takes the citations of the paragraph just before it, its caption).
A block cites a file by naming it in backticks or in a link: a path under
``recipes/results/`` (``recipes/results/levers/casting-stages-full.md``, or a folder
there for all its files), the same
path without that prefix (``levers/casting-stages-full.md``), or a file stem
that names files there (``casting-full-seed0``). Each figure of a block must
match a number of one of the files it cites, at the figure's own precision,
as written or as a fraction shown in percent (``0.9853`` backs ``98.5`` and
``98.53``). Numbers that are not measurements (versions, sizes, settings) are
written in backticks, or listed in ``NOT_FIGURES``.

    python scripts/check_figures.py            # exit 1 and one line per problem
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "recipes" / "results"
FIGURE = re.compile(r"(?<![\w.\-/])(\d+(?:\.\d+)?)(?:\s?(%|×|x\b))?(?![\w.]*\d)")
CITED = re.compile(r"`([^`\s]+)`|\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`]*`")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
NOT_FIGURES = {"3.11", "0.5"}  # Python's version; 0.5 is a setting (radius confidence) where it appears


@dataclass(frozen=True)
class Problem:
    """One figure without backing, or a block that cites a file that is not there."""

    doc: Path
    line: int
    text: str

    def __str__(self) -> str:
        shown = self.doc.relative_to(ROOT) if self.doc.is_relative_to(ROOT) else self.doc
        return f"{shown}:{self.line}: {self.text}"


def blocks(text: str) -> Iterator[tuple[int, str, bool]]:
    """(first line number, text, is a table) of each paragraph, list item and table; code fences skipped."""
    lines, fenced, start, current = text.splitlines(), False, 0, []  # type: ignore[var-annotated]
    for number, line in enumerate([*lines, ""], start=1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        new_item = bool(re.match(r"\s*([-*]|\d+\.) ", line)) or line.startswith("#")
        if fenced or not line.strip() or (new_item and current):
            if current:
                yield start, "\n".join(current), current[0].lstrip().startswith("|")
            current = []
            if fenced or not line.strip():
                continue
        if not current:
            start = number
        current.append(line)


def cited_files(block: str) -> list[Path] | None:
    """The result files a block names (None when a name resolves to nothing: a broken citation)."""
    files: list[Path] = []
    for match in CITED.finditer(block):
        name = (match.group(1) or match.group(2)).split("#")[0]
        if "/" not in name and "." not in name and "-" not in name:
            continue  # a word in backticks, not a file
        found = _resolve(name)
        if found is None and name.startswith("recipes/results"):
            return None
        files += found or []
    return files


def _resolve(name: str) -> list[Path] | None:
    if (ROOT / name).resolve() == RESULTS:
        return []  # the results folder as a whole: a pointer, not a citation
    for candidate in (ROOT / name, RESULTS / name):
        inside = candidate.resolve() == RESULTS or RESULTS in candidate.resolve().parents
        if candidate.is_file() and inside:
            return [candidate]
        if candidate.is_dir() and inside and candidate.resolve() != RESULTS:  # a folder of results: all its files
            return sorted(p for p in candidate.rglob("*") if p.suffix in (".md", ".json", ".txt"))
    stem = Path(name).name
    pattern = stem if "*" in stem or Path(stem).suffix in (".md", ".json", ".txt") else f"{stem}.*"
    start = stem.split("*")[0]
    matches = [p for p in RESULTS.rglob(pattern) if p.suffix in (".md", ".json", ".txt") and p.name.startswith(start)]
    return matches or None


LONG_LIST = 20  # a JSON list longer than this holds per-image values: any figure would match one by chance


@cache
def _numbers(path: Path) -> tuple[float, ...]:
    if path.suffix != ".json":
        return tuple(float(n) for n in NUMBER.findall(path.read_text(errors="replace")))
    found: list[float] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list) and len(value) <= LONG_LIST:
            for item in value:
                walk(item)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found.append(float(value))
        elif isinstance(value, str):
            found.extend(float(n) for n in NUMBER.findall(value))

    walk(json.loads(path.read_text()))
    return tuple(found)


def backed(figure: str, files: list[Path]) -> bool:
    """Whether a file holds ``figure`` at its precision, as written or as a fraction in percent."""
    digits = len(figure.split(".")[1]) if "." in figure else 0
    value = float(figure)
    for path in files:
        for number in _numbers(path):
            for shown in (number, 100 * number):
                if abs(round(shown, digits) - value) < 10 ** -(digits + 3):
                    return True
    return False


def figures(block: str) -> list[str]:
    """The figures of a block (code spans are not figures)."""
    prose = CODE_SPAN.sub(" ", block)
    found = []
    for match in FIGURE.finditer(prose):
        number, unit = match.group(1), match.group(2)
        if ("." in number or unit) and number not in NOT_FIGURES:
            found.append(number)
    return found


def check(doc: Path) -> list[Problem]:
    """Every unbacked figure and broken citation of one markdown file."""
    problems, caption = [], []  # type: ignore[var-annotated]
    for line, block, table in blocks(doc.read_text()):
        files = cited_files(block)
        if files is None:
            problems.append(Problem(doc, line, "cites a file that is not under recipes/results/"))
            continue
        item = table or bool(re.match(r"\s*([-*]|\d+\.) ", block))
        if item:  # a table or a list item also takes the citations of the paragraph that introduces it
            files = files + caption
        for figure in figures(block):
            if not backed(figure, files):
                where = ", ".join(p.name for p in files) or "no file cited"
                problems.append(Problem(doc, line, f"{figure} is not in {where}"))
        if not item:
            caption = files
    return problems


def docs() -> list[Path]:
    """README.md and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def open_problems(pages: list[Path] | None = None) -> list[str]:
    """Every unbacked figure and broken citation of README.md and docs/ (or of ``pages``)."""
    return [str(p) for doc in (pages or docs()) for p in check(doc)]


if __name__ == "__main__":
    problems = open_problems()
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problems in {len(docs())} files", file=sys.stderr)
    sys.exit(1 if problems else 0)
