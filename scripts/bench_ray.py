"""Ray engine vs local engine on the same files, in one run: images/s, and Ray's start-up on its own.

Usage: ``python scripts/bench_ray.py -m model --images 5000``

Writes N copies of samples/incoming under new names into a temporary folder,
scores them with the local engine (ONNX Runtime, decoding threads) and then
with ``--engine ray``'s code (a local Ray instance, one ONNX Runtime actor per
CPU), and checks that both give the same verdicts.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from inspect_svdd.deploy.ray_engine import score_on_ray, start
from inspect_svdd.deploy.runtime import OnnxScorer
from inspect_svdd.deploy.scoring import Row, score_files
from inspect_svdd.io.images import list_images


def main() -> None:
    """Run both engines and print the rates and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", type=Path, default=Path("model"))
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--source", type=Path, default=Path("samples/incoming"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sources = list_images(args.source)
        for i in range(args.images):
            shutil.copyfile(sources[i % len(sources)], Path(tmp) / f"img_{i:05d}{sources[i % len(sources)].suffix}")
        paths = list_images(tmp)
        onnx_file = args.model / "model.onnx"
        local: list[Row] = []
        began = time.perf_counter()
        score_files(paths, OnnxScorer(onnx_file, device="cpu"), local.append)
        local_s = time.perf_counter() - began
        began = time.perf_counter()
        cpus = start()
        startup_s = time.perf_counter() - began
        on_ray: list[Row] = []
        began = time.perf_counter()
        score_on_ray(paths, onnx_file, on_ray.append)
        ray_s = time.perf_counter() - began
    same = [r.verdict for r in local] == [r.verdict for r in on_ray]
    print(f"{len(paths)} images, {cpus} CPUs; local engine {len(paths) / local_s:.0f} images/s ({local_s:.1f} s); "
          f"Ray {len(paths) / ray_s:.0f} images/s ({ray_s:.1f} s) after a {startup_s:.1f} s start of the local instance, "
          f"{len(paths) / (ray_s + startup_s):.0f} images/s with it; Ray / local {local_s / ray_s:.2f}x; "
          f"same verdicts: {same}")


if __name__ == "__main__":
    main()
