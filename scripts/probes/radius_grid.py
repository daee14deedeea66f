"""One default fit on samples/golden, then every candidate scorer under several radius settings.

For each (candidate, bank views, radius views, confidence): good parts of samples/incoming rejected,
defects passed, and the share of fresh good parts rejected (a folder of good parts from
samples/make_samples.py's generator, e.g. /tmp/more2 made by continuing its golden stream).

    python scripts/probes/radius_grid.py FRESH_FOLDER [seed] ['{"bank": [0, 2], "views": [0, 1], "conf": [0.5]}']
"""

import dataclasses
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch

from inspect_svdd.config import FitConfig, PreprocessConfig
from inspect_svdd.io.datasets import load_folder
from inspect_svdd.io.images import list_images
from inspect_svdd.io.preprocess import load_image
from inspect_svdd.model.artifact import load_model, save_model
from inspect_svdd.model.detector import DeepSVDD
from inspect_svdd.model.selection import candidate_config

torch.set_num_threads(1)
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
folder = load_folder("samples/golden", PreprocessConfig(), "auto")
paths = list_images("samples/incoming")
x = np.stack([load_image(p, folder.preprocess) for p in paths])
fresh = load_folder(sys.argv[1], folder.preprocess, str(folder.preprocess.channels)).images
defect = np.array([p.parent.name != "good" for p in paths])
cfg = FitConfig(folder.preprocess)
cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
cache = Path(f"/tmp/radius_grid_model_seed{seed}")  # the fit takes minutes: reuse it across grids
if cache.is_dir():
    det, _ = load_model(cache)
else:
    det = DeepSVDD(cfg).fit(folder.images, progress=False)
    save_model(det, cache)
grid = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {"bank": [0, 2, 4], "views": [0], "conf": [0.5, 0.9]}
print("chosen", det.selection_["chosen"])
for row in det.selection_["candidates"]:
    for bank, views, conf in itertools.product(grid["bank"], grid["views"], grid["conf"]):
        score = dataclasses.replace(candidate_config(det.config.score, row["candidate"]), bank_views=bank)
        train = dataclasses.replace(det.config.train, radius_views=views, radius_confidence=conf)
        other = det.with_rule(score, folder.images, train=train)
        s, f = other.score(x), other.score(fresh)
        print(f"{row['candidate']:62s} bank {bank} views {views} conf {conf}: good rejected {(s[~defect] > 0).sum():2d}/16 "
              f"defects passed {(s[defect] <= 0).sum():2d}/24 fresh rejected {np.mean(f > 0):.1%} "
              f"(val escape {row['escape']:.3f})", flush=True)
