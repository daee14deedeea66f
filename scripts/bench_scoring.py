"""Benchmark batch scoring: ONNX Runtime vs PyTorch vs decoding alone, in one run.

    python scripts/bench_scoring.py -m model --images 1000
    python scripts/bench_scoring.py -m model --images 300 --size 1024 --ext jpg --compare-decode

Makes a folder of N images (variants of samples/incoming, written once), then
times, over the same files: decode + preprocess only, ``score --backend onnx``
and ``score --backend torch`` (both through the same scoring code as the CLI).
Speed is reported as ratios, which carry across machines; absolute rates do not.
``--compare-decode`` also runs decoding alone and ONNX scoring with JPEGs
decoded at full and at reduced scale (``PreprocessConfig.decode``), in the
same run, and reports how much the scores move.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from inspect_svdd.deploy.scoring import Backend, decode_rate, score_files
from inspect_svdd.io.images import decode_image, list_images
from inspect_svdd.io.preprocess import iter_loaded


def make_folder(out: Path, n: int, source: Path, size: int, ext: str) -> list[Path]:
    """Write ``n`` variants (resized to ``size`` px, noise added) of the images under ``source``."""
    sources = list_images(source)
    rng = np.random.default_rng(0)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image = decode_image(sources[i % len(sources)])
        if size:
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
        image = np.clip(image.astype(np.int16) + rng.integers(-3, 4, image.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(out / f"img_{i:05d}.{ext}"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return list_images(out)


def network_rate(backend: Backend, batch: np.ndarray, seconds: float = 3.0) -> float:
    """Images per second of the network alone on one preprocessed batch."""
    backend.distances(batch)
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        backend.distances(batch)
        count += len(batch)
    return count / (time.perf_counter() - start)


def rate(paths: list[Path], backend: Backend, batch_size: int, workers: int) -> float:
    """Images per second of a full scoring pass."""
    count = 0

    def on_row(_row: object) -> None:
        nonlocal count
        count += 1

    start = time.perf_counter()
    score_files(paths, backend, on_row, batch_size=batch_size, workers=workers)
    return count / (time.perf_counter() - start)


def distances(paths: list[Path], backend: Backend) -> np.ndarray:
    """The backend's statistic for every file, in order."""
    out: list[float] = []
    score_files(paths, backend, lambda row: out.append(row.distance if row.distance is not None else np.nan))
    return np.array(out)


def compare_decode(paths: list[Path], backend: Backend, batch_size: int, workers: int) -> None:
    """Full vs reduced JPEG decoding through the same backend: rates and the change in scores."""
    rows, stats = [], {}
    for mode in ("full", "reduced"):
        backend.preprocess = dataclasses.replace(backend.preprocess, decode=mode)  # type: ignore[misc]
        decode_rate(paths[:32], backend.preprocess, workers)
        rows.append((mode, decode_rate(paths, backend.preprocess, workers), rate(paths, backend, batch_size, workers)))
        stats[mode] = distances(paths, backend)
    r2 = backend.radius**2
    change = np.abs(stats["reduced"] - stats["full"]) / r2
    flips = int(np.sum((stats["reduced"] > r2) != (stats["full"] > r2)))
    print("| JPEG decoding | decode+preprocess only | scored end to end (onnx) |\n|---|---|---|")
    for mode, dec, scored in rows:
        print(f"| {mode} | {dec:.1f} images/s | {scored:.1f} images/s |")
    print(f"reduced / full: decoding {rows[1][1] / rows[0][1]:.2f}x, end to end {rows[1][2] / rows[0][2]:.2f}x")
    print(f"score change (distance / R^2): median {np.median(change):.4f}, max {change.max():.4f}; "
          f"verdicts changed: {flips} of {len(paths)} (median distance {np.median(stats['full']) / r2:.2f} R^2)")


def main() -> None:
    """Run the benchmark and print the rates and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", type=Path, default=Path("model"))
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--source", type=Path, default=Path("samples/incoming"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    parser.add_argument("--size", type=int, default=0, help="resize the bench images to SIZE px (0: keep)")
    parser.add_argument("--ext", default="png", choices=["png", "jpg", "bmp"])
    parser.add_argument("--compare-decode", action="store_true", help="also compare full and reduced JPEG decoding")
    args = parser.parse_args()

    from inspect_svdd.deploy.runtime import OnnxScorer
    from inspect_svdd.deploy.torch_backend import TorchBackend

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_folder(Path(tmp) / "images", args.images, args.source, args.size, args.ext)
        onnx_backend = OnnxScorer(args.model / "model.onnx", device="cpu", threads=args.threads)
        torch_backend = TorchBackend.load(args.model)
        decode_rate(paths[:64], onnx_backend.preprocess, args.workers)  # warm the file cache
        decode = decode_rate(paths, onnx_backend.preprocess, args.workers)
        onnx_rate = rate(paths, onnx_backend, args.batch_size, args.workers)
        torch_rate = rate(paths, torch_backend, args.batch_size, args.workers)
        batch = np.stack([img for _, img, _ in iter_loaded(paths[: args.batch_size], onnx_backend.preprocess)])
        onnx_net, torch_net = network_rate(onnx_backend, batch), network_rate(torch_backend, batch)
        shape = decode_image(paths[0]).shape
        if args.compare_decode:
            print(f"{len(paths)} {args.ext} images of {shape[1]}x{shape[0]}:")
            compare_decode(paths, onnx_backend, args.batch_size, args.workers)
    print(f"{len(paths)} {args.ext} images of {shape[1]}x{shape[0]}, batch {args.batch_size}, "
          f"{args.workers} decode threads, onnx threads {args.threads or 'all'}")
    print(f"network only: onnx {onnx_net:.1f} images/s, torch {torch_net:.1f} images/s ({onnx_net / torch_net:.2f}x)")
    print(f"decode+preprocess only: {decode:8.1f} images/s")
    print(f"onnx backend:           {onnx_rate:8.1f} images/s")
    print(f"torch backend:          {torch_rate:8.1f} images/s")
    print(f"onnx / torch = {onnx_rate / torch_rate:.2f}x; onnx / decode-only = {onnx_rate / decode:.0%}")


if __name__ == "__main__":
    main()
