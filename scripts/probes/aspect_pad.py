"""Issue 23 probe: does keeping each tile's aspect ratio help the local model?

The network input is square, so today a 600 x 250 tile is squeezed 2.4 times more along its long
side than along its short one, and the texture's scale changes from tile to tile. This writes a
copy of an MVTec-style set where each image (and mask) is scaled so its longer side is SIZE pixels,
keeping the aspect ratio, and the shorter side is filled out to SIZE by mirroring (numpy's
``symmetric`` padding; masks padded with zeros, so mirrored defect pixels count as good in the
pixel AUROC). Fitting and evaluating on the copy with the usual commands then measures the idea:

    python scripts/probes/aspect_pad.py ../shared/datasets/magnetic_tile /tmp/mt-pad 256
    inspect-svdd fit /tmp/mt-pad/train/good -o MODEL --seed S
    inspect-svdd evaluate /tmp/mt-pad/test -m MODEL
"""

import sys
from pathlib import Path

import cv2
import numpy as np

from inspect_svdd.io.images import list_images


def pad_square(image: np.ndarray, size: int, mode: str) -> np.ndarray:
    """Scale so the longer side is ``size`` and pad the shorter one to ``size`` with numpy's ``mode``."""
    rows, cols = image.shape[:2]
    scale = size / max(rows, cols)
    new = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    image = cv2.resize(image, new, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    rows, cols = image.shape[:2]
    top, left = (size - rows) // 2, (size - cols) // 2
    return np.pad(image, ((top, size - rows - top), (left, size - cols - left)), mode=mode)


def main() -> None:
    """Write the padded copy of the set named on the command line."""
    src, dst, size = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    count = 0
    for folder in [src / "train" / "good", *sorted((src / "test").iterdir())]:
        out = dst / folder.relative_to(src)
        out.mkdir(parents=True, exist_ok=True)
        for path in list_images(folder):
            image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            cv2.imwrite(str(out / (path.stem + ".png")), pad_square(image, size, "symmetric"))
            count += 1
            mask = src / "ground_truth" / folder.name / (path.stem + ".png")
            if folder.parent.name == "test" and mask.exists():
                (dst / "ground_truth" / folder.name).mkdir(parents=True, exist_ok=True)
                m = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
                m = cv2.resize(m, image.shape[::-1], interpolation=cv2.INTER_NEAREST)
                cv2.imwrite(str(dst / "ground_truth" / folder.name / (path.stem + ".png")),
                            pad_square(m, size, "constant"))
    print(f"{count} images written under {dst}")


if __name__ == "__main__":
    main()
