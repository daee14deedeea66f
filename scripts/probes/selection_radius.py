"""Issue 22, point 4: does choosing the scorer on the held-out images make its radius optimistic?

On a saved samples model (recipe run --save-models), re-run fit's selection under each setting of
the override grid, and count the good parts of samples/incoming/good rejected, the defects passing,
and the share of fresh good parts (FRESH: more parts from samples/make_samples.py's golden stream)
rejected at the chosen scorer's radius.

    python scripts/probes/selection_radius.py MODEL_DIR FRESH_FOLDER '[{"train": {"radius_confidence": 0.9}}, ...]'
"""

import dataclasses
import json
import sys

import numpy as np
import torch

from inspect_svdd.config import ScoreConfig
from inspect_svdd.io.datasets import load_folder
from inspect_svdd.io.images import list_images
from inspect_svdd.io.preprocess import load_image
from inspect_svdd.model.artifact import load_model

torch.set_num_threads(1)
det, _ = load_model(sys.argv[1])
p = det.config.preprocess
golden = load_folder("samples/golden", p, str(p.channels)).images
paths = list_images("samples/incoming")
incoming = np.stack([load_image(path, p) for path in paths])
defect = np.array([path.parent.name != "good" for path in paths])
fresh = load_folder(sys.argv[2], p, str(p.channels)).images
for overrides in json.loads(sys.argv[3]):
    other = det.with_rule(ScoreConfig(**{"k": det.config.score.k, **overrides.get("score", {})}), golden,
                          train=dataclasses.replace(det.config.train, **overrides.get("train", {})))
    scores, fresh_scores = other.score(incoming), other.score(fresh)
    print(f"{json.dumps(overrides):60s} chose {other.selection_.get('chosen', other.config.score.rule):50s} "
          f"good rejected {int((scores[~defect] > 0).sum())}/16, defects passing {int((scores[defect] <= 0).sum())}/24, "
          f"fresh rejected {100 * (fresh_scores > 0).mean():.1f} % of {len(fresh)}", flush=True)
