"""Issue 23 probe: the local model trained with one more synthetic family, a large region of another golden tile.

    python scripts/probes/region_defects.py SHARE FIT_ARGS...
    python scripts/probes/region_defects.py 0.25 ../shared/datasets/magnetic_tile/train/good -o MODEL --seed 0

The magnetic tiles' uneven surfaces are large regions (about a quarter of the tile) brighter, darker
or of another grain than the rest, which the default families (small blends, spots, lines) do not
resemble. With probability SHARE a training defect is instead a region: a smooth blob covering 8 %
to 35 % of the input, inside which another golden image (flipped left-right or turned half a turn,
so the grain keeps its direction) shows through at 70 % to 100 %; its mask is the whole blob where
the blend is above one half, kept when the region's mean absolute change is at least 8 grey levels
(else drawn again). Everything else is the product's fit (``inspect-svdd fit`` with FIT_ARGS);
``inspect-svdd evaluate`` then scores the model as any other. The product has it since as
``fit --local-regions SHARE``, which draws the same defects from the same random numbers (checked on
300 draws), so this probe and that option give the same fit; the option's own ``regions`` argument
is ignored here.
"""

import sys

import numpy as np

import inspect_svdd.model.local as local_module
from inspect_svdd.cli import main
from inspect_svdd.model.defects import _blob_mask

share = float(sys.argv[1])
product = local_module.masked_defect


def region(image: np.ndarray, rng: np.random.Generator, donors: np.ndarray,
           kinds: tuple[str, ...], regions: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A region of another golden image with probability ``share``, else the product's masked defect."""
    if rng.random() >= share or donors.shape[1:] != image.shape:
        return product(image, rng, donors, kinds)
    base = image.astype(np.float32)
    for _attempt in range(8):
        alpha = _blob_mask(rng, *image.shape[:2], float(rng.uniform(0.08, 0.35)))[:, :, None]
        donor = donors[int(rng.integers(len(donors)))]
        donor = (donor[:, ::-1] if rng.random() < 0.5 else donor[::-1, ::-1]).astype(np.float32)
        weight = alpha * float(rng.uniform(0.7, 1.0))
        out = np.clip(base * (1 - weight) + donor * weight + 0.5, 0, 255).astype(np.uint8)
        mask = alpha[:, :, 0] > 0.5
        if mask.any() and float(np.abs(out.astype(np.float32) - base)[mask].mean()) >= 8:
            return out, mask
    return product(image, rng, donors, kinds)


local_module.masked_defect = region  # type: ignore[assignment]
main(args=["fit", *sys.argv[2:]], prog_name="inspect-svdd")
