"""How a samples model's statistic grows with a good part's shift and brightness (issue 22, point 4).

Renders nominal keycaps with samples/make_samples.py, shifted by a given distance in 8 directions
(or with a given gain), and prints their statistic in units of R^2 (1.0 is the radius: above it a
good part is rejected). The golden parts are shifted uniformly within +-2 px (160-px images) and
their gain lies in 0.96-1.04; the incoming hard goods go to 3.5 px and gain 0.90.

    python scripts/probes/shift_response.py MODEL_DIR[@SCORER] ...

@SCORER (e.g. @knn/embedding, named as in the selection tables) re-fits that scorer on the model's
encoder and golden split (the training images are samples/golden's, split as the fit split them).
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "samples"))
from make_samples import Part, render

from inspect_svdd.bench.data import load_mvtec
from inspect_svdd.io.preprocess import preprocess
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.detector import DeepSVDD
from inspect_svdd.model.selection import candidate_config

torch.set_num_threads(1)
SHIFTS = (0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5)
GAINS = (0.90, 0.93, 0.96, 1.0, 1.04, 1.08)
ANGLES = np.linspace(0, 2 * np.pi, 8, endpoint=False)



def relative_stats(det: DeepSVDD, parts: list[Part], first_seed: int) -> np.ndarray:
    """Statistic / R^2 of the rendered parts (one noise seed each)."""
    images = np.stack([preprocess(render(p, first_seed + i), det.config.preprocess) for i, p in enumerate(parts)])
    return det.distances(images) / float(det.radius_) ** 2


draws = np.random.default_rng(0).uniform(-2, 2, (100_000, 2))  # the golden parts' shifts (make_samples._good)
radii = np.hypot(draws[:, 0], draws[:, 1])
print("share of golden-generator parts shifted further than " + ", ".join(
    f"{r} px: {100 * np.mean(radii > r):.1f} %" for r in (2.0, 2.5, 3.0)) + " (100,000 draws)")
for arg in sys.argv[1:]:
    directory, _, scorer = arg.partition("@")
    det, meta = load_model(directory)
    name = meta.get("selection", {}).get("chosen", meta["score_rule"])
    if scorer:
        split, _ = load_mvtec(str(Path(__file__).resolve().parents[2] / "samples"), det.config.preprocess,
                              str(det.config.preprocess.channels))
        det, name = det.with_rule(candidate_config(det.config.score, scorer), split.train), scorer
    print(f"{directory}: scorer {name}, R^2 {float(det.radius_) ** 2:.4g}")
    for d in SHIFTS:
        v = relative_stats(det, [Part(dx=d * np.cos(a), dy=d * np.sin(a)) for a in ANGLES], 5000)
        print(f"  shift {d:.1f} px (8 directions): median {np.median(v):6.2f}  max {v.max():6.2f} R^2")
    for g in GAINS:
        v = relative_stats(det, [Part(gain=g) for _ in ANGLES], 6000)
        print(f"  gain {g:.2f} (8 noise draws):      median {np.median(v):6.2f}  max {v.max():6.2f} R^2")
