"""Issue 23 probe: would a wide family among the judged ones change fit's choice of --local-regions?

    python scripts/probes/regions_judge_shade.py DATASET_ROOT SHARE0_MODEL SHARE05_MODEL [...] > out.txt

Models come in pairs (share 0, share 0.5, the same seed). fit judges the two maps on synthetic
defects of families neither trains on (``UNSEEN_BY_LOCAL``), all of them small. Here the
``shade`` family (a blob of `8 %` to `35 %` of the image made brighter or darker, which no default
training family draws) is added, one per held-out image: AUROC on the unseen families, on the shades,
on both, and what ``judge_regions`` keeps on both.
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from inspect_svdd.io.datasets import load_folder
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.local import judged_statistics, unseen_defects
from inspect_svdd.model.masked_defects import _shade
from inspect_svdd.model.selection import judge_regions


def main() -> None:
    """Three lines per pair."""
    root, models = Path(sys.argv[1]), sys.argv[2:]
    for pair in zip(models[::2], models[1::2], strict=True):
        judged, names = {}, []
        for share, directory in zip((0.0, 0.5), pair, strict=True):
            det, _ = load_model(directory)
            cfg = det.config
            golden = load_folder(root / "train" / "good", cfg.preprocess, str(cfg.preprocess.channels)).images
            hold = det._split(golden)[1]
            bad, names = unseen_defects(cfg, hold)
            rng = np.random.default_rng(cfg.train.seed + 7)
            shades = np.stack([np.clip(_shade(h.astype(np.float32), rng)[0] + 0.5, 0, 255).astype(np.uint8) for h in hold])
            good, small, r2 = judged_statistics(det, bad)
            wide = det.distances(shades).astype(np.float64)
            judged[share] = (good, np.r_[small, wide], r2)
            figures = [100 * roc_auc_score(np.r_[np.zeros(len(good)), np.ones(len(s))], np.r_[good, s])
                       for s in (small, wide, np.r_[small, wide])]
            print(f"{directory} (share {share:g}): AUROC unseen {figures[0]:.1f}, shade {figures[1]:.1f}, both {figures[2]:.1f} "
                  f"({len(good)} held-out, {len(small)} unseen, {len(wide)} shades)", flush=True)
        chosen, rows = judge_regions(judged, names + ["shade"] * (len(judged[0.0][1]) - len(names)))
        print(f"judge_regions on both keeps {chosen:g}; " + "; ".join(f"{r['candidate']} AUROC {100 * r['auroc']:.1f}"
                                                                    for r in rows), flush=True)


if __name__ == "__main__":
    main()
