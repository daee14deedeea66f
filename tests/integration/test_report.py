"""report.html: one self-contained file that a browser renders with every image loaded.

The rendering test needs Debian's ``chromium``; ``.ci/run`` installs it and sets
INSPECT_SVDD_REQUIRE_CHROMIUM, so there a missing browser fails instead of skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from inspect_svdd.cli import main

LINK_ATTRIBUTES = {"src", "href", "srcset", "action", "data", "poster", "background", "formaction"}
CHECK_IMAGES = ("<script>window.addEventListener('load',()=>{const all=[...document.images];"
                "const ok=all.filter(i=>i.complete&&i.naturalWidth>0).length;"
                "document.title='IMAGES '+ok+'/'+all.length;});</script></body>")


@pytest.fixture(scope="module")
def report(model_dir: Path, incoming_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("evaluation")
    result = CliRunner().invoke(main, ["evaluate", str(incoming_dir), "-m", str(model_dir), "-o", str(out), "-q"])
    assert result.exit_code == 3, result.output  # the corrupt file is listed, the rest evaluated
    return out / "report.html"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.links += [v or "" for k, v in attrs if k in LINK_ATTRIBUTES]


def outside_references(page: str) -> list[str]:
    """Every reference in ``page`` to something outside it (links, scripts, styles, CSS url())."""
    parser = _Links()
    parser.feed(page)
    found = [v for v in parser.links if not v.startswith(("data:", "#"))]
    found += [u for u in re.findall(r"url\(([^)]*)\)", page) if not u.strip("'\" ").startswith("data:")]
    found += [f"<{t}>" for t in parser.tags & {"link", "script", "iframe", "object", "embed"}]
    return found


def test_report_references_nothing_outside_itself(report: Path) -> None:
    page = report.read_text()
    assert outside_references(page) == [] and "http://" not in page and "https://" not in page
    assert page.count("data:image/") >= 10  # loss, curves, histograms and the part grids are all inside
    broken = page.replace("</body>", '<img src="heatmaps/scratch/x.png"><link rel="stylesheet" href="s.css"></body>')
    assert outside_references(broken) == ["heatmaps/scratch/x.png", "s.css", "<link>"]  # the check itself works


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("INSPECT_SVDD_REQUIRE_CHROMIUM"):
        pytest.fail("chromium not found but INSPECT_SVDD_REQUIRE_CHROMIUM is set (.ci/run installs it)")
    pytest.skip("chromium not installed (apt-get install chromium; .ci/run does)")


def _render(browser: str, page: Path, *args: str) -> str:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=15000",
               *args, page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _loaded(browser: str, page: Path) -> tuple[int, int]:
    dom = _render(browser, page, "--dump-dom")
    match = re.search(r"<title>IMAGES (\d+)/(\d+)</title>", dom)
    assert match, dom[:500]
    return int(match[1]), int(match[2])


def test_report_renders_in_chromium_with_every_image_loaded(report: Path, tmp_path: Path) -> None:
    browser = _chromium()
    checked = tmp_path / "checked.html"
    checked.write_text(report.read_text().replace("</body>", CHECK_IMAGES))
    loaded, total = _loaded(browser, checked)
    assert total >= 10 and loaded == total
    broken = tmp_path / "broken.html"  # the check must see a picture that does not load
    broken.write_text(checked.read_text().replace("</body>", '<img src="data:image/png;base64,AAAA"></body>', 1))
    assert _loaded(browser, broken) == (total, total + 1)
    assert _inked(browser, report, tmp_path) > 0.01  # measured 0.028: text, tables and the loss plot in the first screen
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><html><body></body></html>")
    assert _inked(browser, blank, tmp_path) == 0  # what the check says of a blank page


def _inked(browser: str, page: Path, tmp_path: Path) -> float:
    """Share of a 1280x1600 screenshot's pixels that are not near-white."""
    shot = tmp_path / f"{page.stem}.png"
    _render(browser, page, f"--screenshot={shot}", "--window-size=1280,1600")
    pixels = cv2.imread(str(shot))
    assert pixels is not None and pixels.shape[:2] == (1600, 1280)
    return float(np.mean(pixels.min(axis=2) < 200))


def test_report_gives_rates_as_counts_and_a_short_title(report: Path, model_dir: Path, incoming_dir: Path) -> None:
    """incoming_dir holds 3 good and 3 scratched parts (and one corrupt file, not evaluated)."""
    import json

    page = report.read_text()
    metrics = json.loads((report.parent / "metrics.json").read_text())
    frr, escape = metrics["false_reject_rate"], metrics["escape_rate"]
    assert f"<td>false reject rate</td><td>{round(frr * 3)} of 3 ({frr:.1%})</td>" in page
    assert f"<td>escape rate</td><td>{round(escape * 3)} of 3 ({escape:.1%})</td>" in page
    title = re.search(r"<title>(.*?)</title>", page)
    assert title is not None and title.group(1) == f"{model_dir.name} on {incoming_dir.name}"
    assert str(model_dir) not in title.group(1)
    # the model card says what info says: registration, training length, the kind fit decided on
    assert "<td>registration</td><td>on (--align auto; golden median correlation peak" in page
    assert "<h3>Model kind</h3><p>global, decided by fit before training" in page
    assert re.search(r"<td>training</td><td>[^<]*optimisation steps\)[^<]*seed 0</td>", page)


def test_screening_section_shows_golden_thumbnails(golden_dir: Path, tmp_path: Path) -> None:
    from inspect_svdd.evaluate.report import Scored, write_report

    entry = [{"file": f"part_{i:02d}.png", "relative": 0.2 + i / 10} for i in range(3)]
    screening = {"rule": "log median + 4 x MAD", "threshold": 2.5, "suspects": [{"file": "part_07.png", "relative": 3.1}],
                 "least_typical": [{"file": "part_07.png", "relative": 3.1}, {"file": "gone.png", "relative": 0.9}],
                 "most_typical": entry}
    record = {"training": {"folder": str(golden_dir)}, "screening": screening, "config": {}, "history": []}
    scored = Scored(paths=[str(golden_dir / "part_00.png")], groups=["good"], scores=np.array([-1.0]))
    page = write_report(tmp_path / "r.html", "t", scored, {"radius": 1.0}, record).read_text()
    section = page[page.index("Golden-set screening") : page.index("<h2>Metrics")]
    assert "1 suspect(s)" in section and "3.10x threshold" in section
    assert section.count("<img") == 1 + 1 + 3  # the suspect, the least typical that exists, the three most typical
    assert "gone.png: file not found" in section  # a missing golden file is named, not a crash
    assert outside_references(page) == []
