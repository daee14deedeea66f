"""Checkpoints of a fit in progress, so an interrupted fit resumes to the very model a straight fit gives.

Every few epochs the training loop writes the whole state it depends on: the
networks, the optimiser and learning-rate schedule, the history so far, and
every random state a later epoch draws from (python, numpy and torch, the data
loader's shuffling generator, the dataset's synthetic-defect draws, each
albumentations pipeline's generators). Restoring all of them makes the resumed
epochs bit-identical to the ones a straight fit would have run, on the same
machine. Plain tensors and numbers only (loaded with ``weights_only=True``).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inspect_svdd.errors import ModelError

EVERY = 5  # epochs between checkpoints


def fit_key(config: dict[str, Any], images: np.ndarray, defects: np.ndarray | None) -> str:
    """Identity of a fit: its configuration and the exact training pixels (a checkpoint resumes only its own fit)."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for array in (images, defects):
        if array is not None:
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


@dataclass
class Randomness:
    """The random sources a training loop draws from, besides python's, numpy's and torch's global ones."""

    loader: torch.Generator | None
    generators: list[np.random.Generator] = field(default_factory=list)
    pythons: list[random.Random] = field(default_factory=list)

    @classmethod
    def of(cls, loader: Any) -> Randomness:
        """The sources of a loader from :func:`~.train.make_loader`: its generator, dataset and pipelines."""
        dataset = loader.dataset
        return cls.of_sources(loader.generator, [dataset.rng], [dataset.pipeline, dataset.anomalies])

    @classmethod
    def of_sources(cls, loader: torch.Generator | None, generators: list[np.random.Generator],
                   pipelines: list[Any]) -> Randomness:
        """A loop's own generators and those of its albumentations ``pipelines`` (None entries are skipped)."""
        out = cls(loader, list(generators))
        for pipeline in pipelines:
            for part in _parts(pipeline):  # albumentations gives every transform generators of its own
                if not any(g is part.random_generator for g in out.generators):
                    out.generators.append(part.random_generator)
                if not any(r is part.py_random for r in out.pythons):
                    out.pythons.append(part.py_random)
        return out

    def state(self) -> dict[str, Any]:
        """All the states, as tensors and plain numbers."""
        np_state: Any = np.random.get_state()
        return {"torch": torch.get_rng_state(), "loader": None if self.loader is None else self.loader.get_state(),
                "numpy": [np_state[0], torch.from_numpy(np.asarray(np_state[1]).astype(np.int64)), *map(_plain, np_state[2:])],
                "python": _plain(random.getstate()), "generators": [g.bit_generator.state for g in self.generators],
                "pythons": [_plain(r.getstate()) for r in self.pythons]}

    def restore(self, state: dict[str, Any]) -> None:
        """Put every source back where :meth:`state` found it (in place: pipelines share these objects)."""
        torch.set_rng_state(state["torch"])
        if self.loader is not None:
            self.loader.set_state(state["loader"])
        kind, keys, *rest = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
        random.setstate(_tuple(state["python"]))
        for generator, saved in zip(self.generators, state["generators"], strict=True):
            generator.bit_generator.state = saved
        for rng, saved in zip(self.pythons, state["pythons"], strict=True):
            rng.setstate(_tuple(saved))


def _parts(pipeline: Any) -> list[Any]:
    """An albumentations pipeline and every transform inside it, nested ones included."""
    if pipeline is None:
        return []
    return [pipeline, *(p for child in getattr(pipeline, "transforms", []) for p in _parts(child))]


def _plain(value: Any) -> Any:
    """Tuples as lists (what weights-only loading accepts), recursively."""
    return [_plain(v) for v in value] if isinstance(value, tuple | list) else value


def _tuple(value: Any) -> Any:
    return tuple(_tuple(v) for v in value) if isinstance(value, list) else value


class Checkpoint:
    """``checkpoint.pt`` in a model directory while a fit runs; removed once the model is saved.

    Args:
        path: the checkpoint file.
        key: :func:`fit_key` of this fit.
        resume: continue from the file when it holds this fit's state.
    """

    def __init__(self, path: Path, key: str, resume: bool = False, every: int = EVERY) -> None:
        self.path, self.key, self.every = path, key, every
        self.saved: dict[str, Any] | None = None
        if resume:
            self.saved = self._read()

    def _read(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            saved = torch.load(self.path, weights_only=True, map_location="cpu")
        except Exception as exc:  # a file cut off by the interruption itself, or not ours
            raise ModelError(f"{self.path}: unreadable checkpoint ({type(exc).__name__}); fit again without --resume") from None
        if saved.get("key") != self.key:
            raise ModelError(f"{self.path}: checkpoint of another fit (other settings or golden images); "
                             "fit again without --resume")
        return dict(saved)

    def stage(self) -> str | None:
        """The stage the saved state is in (``pretrain``, ``svdd`` or ``local``), or None."""
        return None if self.saved is None else str(self.saved["stage"])

    def restore(self, stage: str, modules: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer, scheduler: Any,
                randomness: Randomness) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
        """Load a saved ``stage`` into the given objects: ``(epochs done, history, extra)``; ``(0, [], {})`` if none."""
        if self.saved is None or self.saved["stage"] != stage:
            return 0, [], {}
        for name, module in modules.items():
            module.load_state_dict(self.saved["modules"][name])
        optimizer.load_state_dict(self.saved["optimizer"])
        scheduler.load_state_dict(self.saved["scheduler"])
        randomness.restore(self.saved["random"])
        return int(self.saved["epoch"]), list(self.saved["history"]), dict(self.saved["extra"])

    def save(self, stage: str, epoch: int, last: int, modules: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer,
             scheduler: Any, randomness: Randomness, history: list[dict[str, Any]], extra: dict[str, Any]) -> None:
        """Write the state after ``epoch`` (1-based) every ``every`` epochs and after the stage's ``last``."""
        if epoch % self.every and epoch != last:
            return
        state = {"key": self.key, "stage": stage, "epoch": epoch, "history": history, "extra": extra,
                 "modules": {name: m.state_dict() for name, m in modules.items()}, "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "random": randomness.state()}
        tmp = self.path.with_suffix(".pt.tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)  # not before training starts: bad input leaves no folder
        torch.save(state, tmp)
        tmp.replace(self.path)

    def remove(self) -> None:
        """Delete the file (the fit finished and its model is saved)."""
        self.path.unlink(missing_ok=True)
