"""Do a test set's defect photos differ from its good ones in photo conditions alone (a shortcut)?

    python scripts/probes/photometric_shortcut.py DATASET_ROOT [MODEL_DIR]

1. Four photometric statistics per image (mean, standard deviation, and the mean and standard deviation of
   the four corner squares, i.e. the background), each one's AUROC on the test set, and a one-class 5-NN on
   the four, fitted on the golden images only (the network inputs, as ``fit`` sees them).
2. With MODEL_DIR (a model fitted on DATASET_ROOT's golden images, e.g. by ``recipe run --save-models``): every
   candidate scorer of its selection on the whole test set, and on the test set cut to *the same photo
   conditions*: every good test image, and only the defective ones whose photometric 5-NN distance lies within
   the good test images' 99th or 95th percentile (``CUTS``). No image is altered; if a candidate's lead on the whole test set
   shrinks on the cut one, part of it was the photo conditions, not the defects.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from inspect_svdd.bench.data import Split, load_mvtec
from inspect_svdd.bench.runner import proxy_table
from inspect_svdd.config import PreprocessConfig
from inspect_svdd.model.artifact import load_model

NAMES = ("mean", "std", "corner mean", "corner std")


def statistics(images: np.ndarray) -> np.ndarray:
    """The four photometric statistics of each image (N x H x W x C uint8), grey = channel mean."""
    grey = images.astype(np.float64).mean(axis=3)
    c = max(2, grey.shape[1] // 15)  # corner squares of 1/15 of the side: background on a centred part
    corners = np.concatenate([grey[:, :c, :c], grey[:, :c, -c:], grey[:, -c:, :c], grey[:, -c:, -c:]], axis=2)
    flat = corners.reshape(len(grey), -1)
    return np.stack([grey.mean(axis=(1, 2)), grey.std(axis=(1, 2)), flat.mean(axis=1), flat.std(axis=1)], axis=1)


def shortcut_lines(split: Split, label: str) -> list[str]:
    """Each statistic's test AUROC and the one-class 5-NN's, fitted on the golden images."""
    golden, test = statistics(split.train), statistics(split.test)
    y = split.test_anomalous.astype(int)
    lines = []
    for i, name in enumerate(NAMES):
        a = roc_auc_score(y, test[:, i])
        lines.append(f"{label}: {name:12s} AUROC {100 * max(a, 1 - a):.1f} ({'lower' if a < 0.5 else 'higher'} on defects; "
                     f"golden {golden[:, i].mean():.1f}, test good {test[~split.test_anomalous, i].mean():.1f}, "
                     f"test defect {test[split.test_anomalous, i].mean():.1f})")
    d = photometric_distance(split)
    lines.append(f"{label}: one-class 5-NN on the four statistics, fitted on the golden images: test AUROC "
                 f"{100 * roc_auc_score(y, d):.1f}")
    return lines


def photometric_distance(split: Split) -> np.ndarray:
    """Each test image's one-class 5-NN distance on the four statistics (standardised on, and fitted to, the golden images)."""
    golden = statistics(split.train)
    scale = StandardScaler().fit(golden)
    knn = NearestNeighbors(n_neighbors=5).fit(scale.transform(golden))
    return knn.kneighbors(scale.transform(statistics(split.test)))[0].mean(axis=1)


def same_conditions(split: Split, quantile: float = 0.95) -> Split:
    """The test set cut to the images photographed like the golden ones.

    Every good test image stays, and the defective ones whose photometric distance is at most the good test
    images' ``quantile``.
    """
    d = photometric_distance(split)
    keep = ~split.test_anomalous | (d <= np.quantile(d[~split.test_anomalous], quantile))
    return Split(split.train, split.test[keep], split.test_anomalous[keep],
                 [g for g, k in zip(split.test_groups, keep, strict=True) if k], split.facts)


CUTS = (0.99, 0.95)  # the good test images' quantiles of photometric distance a kept defect may reach


def main() -> None:
    """Print the statistics, and with a model the candidates on the whole and the cut test sets."""
    torch.set_num_threads(1)
    root = sys.argv[1]
    det = load_model(sys.argv[2])[0] if len(sys.argv) > 2 else None
    cfg = det.config.preprocess if det is not None else PreprocessConfig()
    split, _ = load_mvtec(root, cfg, str(cfg.channels) if det is not None else "auto")
    cut = {q: same_conditions(split, q) for q in CUTS}
    print(f"# python {' '.join(sys.argv)}   (network inputs: {cfg.input_shape[1]}x{cfg.input_shape[0]}, "
          f"{len(split.train)} golden, {int((~split.test_anomalous).sum())} test good, {int(split.test_anomalous.sum())} "
          "test defects; same conditions q: every good test image and the defects whose photometric 5-NN distance is "
          "within the good test images' q quantile: "
          + ", ".join(f"{int(c.test_anomalous.sum())} defects at q {q}" for q, c in cut.items()) + ")")
    for line in shortcut_lines(split, "as photographed") + shortcut_lines(cut[CUTS[0]], f"same conditions {CUTS[0]}"):
        print(line)
    if det is None:
        return
    tables = [proxy_table(det, s) for s in (split, *cut.values())]
    print(f"\nchosen by fit: {tables[0]['chosen']}; best in hindsight: whole test set {tables[0]['best_in_hindsight']}, "
          + ", ".join(f"same conditions {q} {t['best_in_hindsight']}" for q, t in zip(CUTS, tables[1:], strict=True)))
    print("| candidate | validation escape at R | whole test set: AUROC / escape / false reject | "
          + " | ".join(f"same conditions {q} ({int(c.test_anomalous.sum())} defects)" for q, c in cut.items()) + " |")
    print("|---|---|---|" + "---|" * len(CUTS))
    for rows in zip(*(t["candidates"] for t in tables), strict=True):
        cells = [f"{100 * r['test']['auroc']:.1f} / {100 * r['test']['test_escape_rate']:.1f} % / "
                 f"{100 * r['test']['test_false_reject_rate']:.1f} %" for r in rows]
        print(f"| {rows[0]['candidate']} | {100 * rows[0]['escape']:.1f} % | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
