"""Issue 23 probe: could fit choose --local-regions itself? Judge fitted local models as fit would judge two kinds.

    python scripts/probes/regions_choice.py DATASET_ROOT LABEL=MODEL_DIR ... > out.txt

Each model (fitted on DATASET_ROOT/train/good, the same seed for the models compared) is judged
on its own held-out golden images (fit's split, their statistics as saved in model.json) and the
synthetic defects ``fit --model-kind both`` makes from them: families the local model never trains
on (``UNSEEN_BY_LOCAL``), then every family. Printed per model: escape at its radius, partial AUROC
up to 10 % false positives and AUROC on those defects, beside the test set's image AUROC (the
real defects: what the choice should follow). Then what ``judge_kinds`` (escape at each one's radius,
``--model-kind both``'s rule) would keep among them, and fit's rule for ``--local-regions`` unset
(``judge_regions``: the first model, share 0, unless another's AUROC on the unseen families is higher
by more than two standard errors) where each LABEL is the share its model was trained with.
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from inspect_svdd.io.datasets import load_folder
from inspect_svdd.io.images import list_images
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.selection import UNSEEN_BY_LOCAL, defect_count, judge_kinds, judge_regions, synthetic_defects
from inspect_svdd.model.synthetic import defect_families

root = Path(sys.argv[1])
models = dict(arg.split("=", 1) for arg in sys.argv[2:])
paths = [p for group in sorted((root / "test").iterdir()) for p in list_images(group)]
judged: dict[str, dict[str, tuple[np.ndarray, np.ndarray, float]]] = {"unseen": {}, "all": {}}
names: dict[str, list[str]] = {}
for label, directory in models.items():
    det, _ = load_model(directory)
    cfg = det.config
    golden = load_folder(root / "train" / "good", cfg.preprocess, str(cfg.preprocess.channels)).images
    hold = det._split(golden)[1]
    good = np.asarray(det.holdout_["distances"], np.float64)
    r2 = float(det._fitted()[2] ** 2)
    test = load_folder(root / "test", cfg.preprocess, str(cfg.preprocess.channels), paths=paths)
    labels = np.array([Path(p).parent.name != "good" for p in test.files])
    auroc = 100 * roc_auc_score(labels, det.distances(test.images))
    line = [f"{label}: test AUROC {auroc:.1f}, {len(hold)} held-out"]
    for key, only in (("unseen", UNSEEN_BY_LOCAL), ("all", tuple(defect_families()))):
        bad, families = synthetic_defects(hold, defect_count(cfg.score, len(hold)), cfg.train.seed + 6, only)
        scores = det.distances(bad).astype(np.float64)
        judged[key][label] = (good, scores, r2)
        names[key] = families
        synthetic = 100 * roc_auc_score(np.r_[np.zeros(len(good)), np.ones(len(scores))], np.r_[good, scores])
        line.append(f"{key} ({len(bad)}): escape {np.mean(scores <= r2):.1%}, AUROC {synthetic:.1f}")
    print("; ".join(line), flush=True)
for key in judged:
    chosen, rows, decided = judge_kinds(judged[key], names[key])
    print(f"judged on {key} families: keeps {chosen} (decided by {decided}); "
          + "; ".join(f"{r['candidate']} escape {r['escape']:.1%} pAUROC10 {r['pauroc_10']:.3f}" for r in rows))
shares = {float(label.split("-")[0]): label for label in models}  # LABEL: SHARE or SHARE-anything
if len(shares) == len(models):
    chosen, rows = judge_regions({share: judged["unseen"][label] for share, label in shares.items()}, names["unseen"])
    print(f"fit's rule (judge_regions, unseen families): keeps {shares[chosen]}; "
          + "; ".join(f"{shares[float(r['candidate'])]} AUROC {100 * r['auroc']:.1f}" for r in rows))
