"""A line that darkens gradually, for the drift alarm: good parts from samples/make_samples.py's generator.

60 ordinary good parts, then 200 whose gain falls by 0.001 per part (to 0.8), written as frame_NNN.png.

    python scripts/probes/darkening_line.py OUT_FOLDER
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "samples"))
import make_samples as m

out = Path(sys.argv[1])
rng = np.random.default_rng(7)
for i in range(260):
    part = m._good(rng)
    if i >= 60:
        part.gain = 1.0 - 0.001 * (i - 59)
    m.write(out / f"frame_{i:03d}.png", m.render(part, seed=5000 + i))
