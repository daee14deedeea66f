"""Make the sample inspection images: top views of a printed keycap.

Deterministic (fixed seeds): running it again gives byte-identical files.

    python samples/make_samples.py            # writes samples/golden and samples/incoming

golden/ holds good parts. incoming/ is laid out like MVTec AD test folders:
incoming/good/ (unseen good parts, a few of them a little darker or slightly
shifted: hard but good) and incoming/<defect kind>/ for scratch, stain,
missing_print, wrong_print, shifted and broken_edge. ground_truth/<defect kind>/
holds a mask per defective image (<name>_mask.png, white where the part differs
from the same part rendered without the defect), as MVTec AD does.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

SIZE = 160
CAP = 96  # keycap side in pixels


@dataclass
class Part:
    """How one photographed keycap differs from the nominal one."""

    dx: float = 0.0
    dy: float = 0.0
    angle: float = 0.0
    gain: float = 1.0
    letter: str = "A"
    defects: list[tuple[str, dict[str, float]]] = field(default_factory=list)


def _background(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    base = 196 + 14 * (1 - xx) * (1 - yy) - 6 * yy
    img = np.stack([base, base + 1, base - 4], axis=-1)
    return img + rng.normal(0, 1.0, (1, 1, 3)).astype(np.float32)


def _rounded_rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, r: int, color: tuple[float, ...]) -> None:
    cv2.rectangle(img, (x0 + r, y0), (x1 - r, y1), color, -1, cv2.LINE_AA)
    cv2.rectangle(img, (x0, y0 + r), (x1, y1 - r), color, -1, cv2.LINE_AA)
    for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(img, (cx, cy), r, color, -1, cv2.LINE_AA)


def render(part: Part, seed: int) -> np.ndarray:
    """Render one part as an RGB uint8 image."""
    rng = np.random.default_rng(seed)
    img = _background(rng)
    c = SIZE // 2
    x0, y0 = c - CAP // 2, c - CAP // 2
    x1, y1 = x0 + CAP, y0 + CAP
    shadow = np.zeros_like(img)
    _rounded_rect(shadow, x0 + 5, y0 + 6, x1 + 5, y1 + 6, 14, (40, 40, 40))
    img -= cv2.GaussianBlur(shadow, (0, 0), 4)
    _rounded_rect(img, x0, y0, x1, y1, 14, (62, 68, 82))
    _rounded_rect(img, x0 + 11, y0 + 9, x1 - 11, y1 - 15, 10, (84, 92, 108))
    scale, thick = 1.5, 3
    (tw, th), _ = cv2.getTextSize(part.letter, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    org = (c - tw // 2, c - 3 + th // 2)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    cv2.putText(mask, part.letter, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
    alpha = mask[..., None].astype(np.float32) / 255.0
    img[:] = img * (1 - alpha) + np.array([236, 236, 228], np.float32) * alpha
    for kind, p in part.defects:
        _draw_defect(img, kind, p, (x0, y0, x1, y1))
    m = cv2.getRotationMatrix2D((c, c), part.angle, 1.0)
    m[:, 2] += (part.dx, part.dy)
    img = cv2.warpAffine(img, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    img = img * part.gain + rng.normal(0, 2.0, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _draw_defect(img: np.ndarray, kind: str, p: dict[str, float], box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    if kind == "scratch":
        a, length = p["angle"], p["length"]
        cx, cy = p["cx"], p["cy"]
        dx, dy = np.cos(a) * length / 2, np.sin(a) * length / 2
        pt0, pt1 = (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy))
        cv2.line(img, pt0, pt1, (178, 180, 184), 3, cv2.LINE_AA)
    elif kind == "stain":
        layer = np.zeros(img.shape[:2], np.float32)
        cv2.ellipse(layer, (int(p["cx"]), int(p["cy"])), (int(p["rx"]), int(p["ry"])), p["angle"], 0, 360, 1.0, -1)
        alpha = cv2.GaussianBlur(layer, (0, 0), 2.0)[..., None] * 0.75
        img[:] = img * (1 - alpha) + np.array([96, 70, 38], np.float32) * alpha
    elif kind == "missing_print":
        _rounded_rect(img, x0 + 11, y0 + 9, x1 - 11, y1 - 15, 10, (84, 92, 108))
    elif kind == "broken_edge":
        s = int(p["size"])
        corners = {0: (x0, y0, 1, 1), 1: (x1, y0, -1, 1), 2: (x0, y1, 1, -1), 3: (x1, y1, -1, -1)}
        cx, cy, sx, sy = corners[int(p["corner"])]
        pts = np.array([[cx - 3 * sx, cy - 3 * sy], [cx + sx * s, cy - 3 * sy], [cx + sx * int(s * 0.4), cy + sy * int(s * 0.5)],
                        [cx - 3 * sx, cy + sy * s]], np.int32)
        bg = img[2, 2].copy() if sy > 0 else img[-3, -3].copy()
        cv2.fillPoly(img, [pts], tuple(float(v) for v in bg), cv2.LINE_AA)


def _good(rng: np.random.Generator, hard: bool = False) -> Part:
    if not hard:
        return Part(dx=rng.uniform(-2, 2), dy=rng.uniform(-2, 2), angle=rng.uniform(-1, 1), gain=rng.uniform(0.96, 1.04))
    if rng.random() < 0.5:
        return Part(dx=rng.uniform(-2, 2), dy=rng.uniform(-2, 2), angle=rng.uniform(-1, 1), gain=rng.uniform(0.9, 0.93))
    sign = rng.choice([-1, 1], 2)
    return Part(dx=sign[0] * rng.uniform(2.5, 3.5), dy=sign[1] * rng.uniform(1.5, 3), gain=rng.uniform(0.96, 1.04))


def _defect(kind: str, rng: np.random.Generator) -> Part:
    part = _good(rng)
    c = SIZE // 2
    if kind == "scratch":
        part.defects.append((kind, {"angle": rng.uniform(0, np.pi), "length": rng.uniform(40, 60),
                                    "cx": c + rng.uniform(-15, 15), "cy": c + rng.uniform(-15, 15)}))
    elif kind == "stain":
        part.defects.append((kind, {"cx": c + rng.uniform(-25, 25), "cy": c + rng.uniform(-25, 25),
                                    "rx": rng.uniform(8, 13), "ry": rng.uniform(6, 10), "angle": rng.uniform(0, 180)}))
    elif kind == "missing_print":
        part.defects.append((kind, {}))
    elif kind == "wrong_print":
        part.letter = str(rng.choice(["B", "R", "4", "H"]))
    elif kind == "shifted":
        a = rng.uniform(0, 2 * np.pi)
        dist = rng.uniform(12, 18)
        part.dx, part.dy = dist * np.cos(a), dist * np.sin(a)
    elif kind == "broken_edge":
        part.defects.append((kind, {"corner": int(rng.integers(0, 4)), "size": rng.uniform(18, 26)}))
    return part


def defect_mask(part: Part, seed: int) -> np.ndarray:
    """Where ``part`` differs from itself without its defect (uint8, 255 inside), for localisation tests.

    The same seed renders the same noise, so the difference is the defect
    alone; a shifted part is compared with the centred one, a wrong print with
    the right letter.
    """
    nominal = Part(dx=part.dx, dy=part.dy, angle=part.angle, gain=part.gain)
    if not part.defects and part.letter == nominal.letter:  # shifted: the defect is the position
        nominal.dx = nominal.dy = 0.0
    diff = np.abs(render(part, seed).astype(np.int16) - render(nominal, seed).astype(np.int16)).max(axis=2)
    mask = (diff > 15).astype(np.uint8) * 255
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))


DEFECTS = ("scratch", "stain", "missing_print", "wrong_print", "shifted", "broken_edge")


def write(path: Path, image: np.ndarray) -> None:
    """Write an RGB image (PNG or JPEG by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 9]
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params):
        raise OSError(f"cannot write {path}")


def make(out: Path, n_golden: int = 120, n_good: int = 12, n_hard: int = 4, n_defect: int = 4) -> None:
    """Write golden/ and incoming/ under ``out``, replacing what was there."""
    for sub in ("golden", "incoming", "ground_truth"):
        shutil.rmtree(out / sub, ignore_errors=True)
    rng = np.random.default_rng(2026)
    for i in range(n_golden):
        write(out / "golden" / f"part_{i:03d}.png", render(_good(rng), seed=1000 + i))
    rng = np.random.default_rng(2027)  # incoming/ does not change with the size of golden/
    for i in range(n_good):
        write(out / "incoming" / "good" / f"good_{i:03d}.png", render(_good(rng), seed=2000 + i))
    for i in range(n_hard):
        write(out / "incoming" / "good" / f"hard_good_{i:03d}.jpg", render(_good(rng, hard=True), seed=3000 + i))
    for k, kind in enumerate(DEFECTS):
        for i in range(n_defect):
            part, seed = _defect(kind, rng), 4000 + 100 * k + i
            write(out / "incoming" / kind / f"{kind}_{i:03d}.png", render(part, seed))
            mask = out / "ground_truth" / kind / f"{kind}_{i:03d}_mask.png"
            mask.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(mask), defect_mask(part, seed)):
                raise OSError(f"cannot write {mask}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    make(parser.parse_args().out)
