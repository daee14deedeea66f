"""A samples-layout folder with many new ordinary good parts, for measuring false rejects on new good parts.

    python scripts/probes/fresh_samples.py OUT [COUNT] [RNG_SEED]

OUT/golden links to samples/golden (so a model's held-out split is the fit's own), OUT/incoming/good
holds COUNT (200) ordinary good parts from samples/make_samples.py's generator on the random stream
RNG_SEED (77), and OUT/incoming/<defect kind> link to samples/incoming's defects.
"""

import sys
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
sys.path.insert(0, str(SAMPLES))
from make_samples import _good, render, write  # noqa: E402

out = Path(sys.argv[1])
count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 77)
(out / "incoming").mkdir(parents=True, exist_ok=True)
if not (out / "golden").exists():
    (out / "golden").symlink_to(SAMPLES / "golden")
for kind in sorted(p for p in (SAMPLES / "incoming").iterdir() if p.is_dir() and p.name != "good"):
    if not (out / "incoming" / kind.name).exists():
        (out / "incoming" / kind.name).symlink_to(kind)
for i in range(count):
    write(out / "incoming" / "good" / f"fresh_{i:03d}.png", render(_good(rng), seed=9000 + i))
print(f"{count} new good parts in {out / 'incoming' / 'good'}")
