"""Issue 23 probe: fit's choice of --local-regions judged on a few real defects (``fit --validate``), no refit.

    python scripts/probes/regions_validate.py DATASET_ROOT K SHARE0_MODEL SHARE05_MODEL [...] > out.txt

Models come in pairs (share 0, share 0.5, the same seed). The first K defective images of each type
under DATASET_ROOT/test (sorted by name) stand for the parts a user would give ``--validate``: both
maps are judged on their held-out golden images and those parts as ``judge_regions`` judges them,
then on those parts and the synthetic defects of the unseen families together, and each map's AUROC
on the rest of the test set is printed beside (what the choice should follow).
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from inspect_svdd.io.datasets import load_folder
from inspect_svdd.io.images import list_images
from inspect_svdd.model.artifact import load_model
from inspect_svdd.model.local import judged_statistics, unseen_defects
from inspect_svdd.model.selection import judge_regions


def main() -> None:
    """Three lines per pair."""
    root, k, models = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    groups = {g.name: sorted(list_images(g)) for g in sorted((root / "test").iterdir()) if g.is_dir()}
    given = [p for name, files in groups.items() if name != "good" for p in files[:k]]
    rest = [p for name, files in groups.items() for p in (files if name == "good" else files[k:])]
    for pair in zip(models[::2], models[1::2], strict=True):
        judged, pooled, families = {}, {}, []
        for share, directory in zip((0.0, 0.5), pair, strict=True):
            det, _ = load_model(directory)
            pre, channels = det.config.preprocess, str(det.config.preprocess.channels)
            real = load_folder(root / "test", pre, channels, paths=given).images
            judged[share] = judged_statistics(det, real)
            golden = load_folder(root / "train" / "good", pre, channels).images
            synthetic, families = unseen_defects(det.config, det._split(golden)[1])
            pooled[share] = judged_statistics(det, np.concatenate([real, synthetic]))
            test = load_folder(root / "test", pre, channels, paths=rest)
            labels = np.array([Path(p).parent.name != "good" for p in test.files])
            good, bad, _ = judged[share]
            on_given = roc_auc_score(np.r_[np.zeros(len(good)), np.ones(len(bad))], np.r_[good, bad])
            on_rest = roc_auc_score(labels, det.distances(test.images))
            print(f"{directory} (share {share:g}): AUROC on the {len(given)} given parts {100 * on_given:.1f}, "
                  f"on the other {len(rest)} test images {100 * on_rest:.1f}", flush=True)
        chosen, _ = judge_regions(judged, ["real"] * len(given))
        both, rows = judge_regions(pooled, ["real"] * len(given) + families)
        print(f"judge_regions on the given parts keeps {chosen:g}; on them and {len(families)} synthetic defects keeps "
              f"{both:g} (" + "; ".join(f"{r['candidate']} AUROC {100 * r['auroc']:.1f}" for r in rows) + ")", flush=True)


if __name__ == "__main__":
    main()
