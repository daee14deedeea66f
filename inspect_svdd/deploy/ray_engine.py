"""Batch scoring on Ray: a pool of actors, each holding one ONNX Runtime session, over a Ray Data dataset of paths.

Optional (``pip install 'inspect-svdd[ray]'``); nothing else in the package
imports this module. Workers get the model file through Ray's object store
(the training data never travels); they read the images themselves, so the
paths must be readable on every node (a shared folder). Each actor decodes and
preprocesses through the same loader as the local engine and returns the same
rows; the dataset keeps the input order, so the driver writes rows in the
order the local engine would.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inspect_svdd.deploy.scoring import Row, score_files

COLUMNS = ("path", "score", "distance", "radius", "verdict", "error")


def start(address: str | None = None, cpus: int | None = None) -> int:
    """Connect to the cluster at ``address``, or start a local Ray instance; return the CPUs available."""
    import ray

    logging.getLogger("ray").setLevel(logging.ERROR)  # Ray's notes would mix with the summary on stderr
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        else:
            ray.init(num_cpus=cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR)
    return max(int(ray.cluster_resources().get("CPU", 1)), 1)


class _Scorer:
    """A Ray Data actor: one ONNX Runtime session (one thread), reused for every batch it gets."""

    def __init__(self, model: list[Any], radius: float | None) -> None:
        import ray

        from inspect_svdd.deploy.runtime import OnnxScorer

        folder = tempfile.mkdtemp(prefix="inspect-svdd-model-")
        try:
            path = Path(folder) / "model.onnx"
            path.write_bytes(ray.get(model[0]))  # the model file, from the object store (in a list: Ray passes it on)
            self.scorer = OnnxScorer(path, device="cpu", threads=1)  # the session holds the model in memory
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # one temporary folder per actor, gone once it has loaded
        self.radius = radius

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        rows: list[Row] = []
        score_files([Path(p) for p in batch["path"]], self.scorer, rows.append, radius=self.radius,
                    batch_size=max(len(batch["path"]), 1), workers=1)
        return {"path": np.array([r.path for r in rows], dtype=object),
                "score": np.array([np.nan if r.score is None else r.score for r in rows]),
                "distance": np.array([np.nan if r.distance is None else r.distance for r in rows]),
                "radius": np.array([r.radius for r in rows]),
                "verdict": np.array([r.verdict for r in rows], dtype=object),
                "error": np.array([r.error for r in rows], dtype=object)}


def score_on_ray(paths: Sequence[Path], onnx_file: Path, on_row: Callable[[Row], None], radius: float | None = None,
                 batch_size: int = 32, actors: int | None = None) -> None:
    """Score ``paths`` with the model in ``onnx_file`` on the running Ray instance (see :func:`start`).

    ``on_row`` gets the rows in the order of ``paths``, as the local engine gives them.
    """
    import ray
    import ray.data

    if not paths:
        return
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # set once ray.data has configured its logging
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    pool = actors or max(int(ray.cluster_resources().get("CPU", 1)), 1)
    dataset = ray.data.from_items([{"path": str(p)} for p in paths])
    model = ray.put(onnx_file.read_bytes())
    scored = dataset.map_batches(_Scorer, fn_constructor_args=([model], radius), batch_size=batch_size,
                                 concurrency=pool, num_cpus=1, batch_format="numpy")
    for batch in scored.iter_batches(batch_size=None, batch_format="numpy"):
        for i in range(len(batch["path"])):
            failed = batch["verdict"][i] == "error"
            on_row(Row(str(batch["path"][i]), None if failed else float(batch["score"][i]),
                       None if failed else float(batch["distance"][i]), float(batch["radius"][i]),
                       str(batch["verdict"][i]), str(batch["error"][i])))
