"""Benchmark data: torchvision's one-class sets and labelled folders in the MVTec AD layout.

Everything comes out as uint8 NHWC arrays, the same input the detector takes
from :func:`inspect_svdd.io.datasets.load_folder`. Nothing is downloaded unless
``download=True`` is passed explicitly.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inspect_svdd.config import PreprocessConfig
from inspect_svdd.errors import DatasetError
from inspect_svdd.io.datasets import load_folder
from inspect_svdd.io.images import list_images

DATA_ROOT_ENV = "INSPECT_SVDD_DATA"
CACHE_ENV = "INSPECT_SVDD_CACHE"
TORCHVISION_SETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}


@dataclass
class Split:
    """One benchmark case: normal training images and a labelled test set.

    ``test_groups`` names each test image's group (its class or defect type;
    ``good`` for folder sets); ``test_anomalous`` is True for anomalies.
    """

    train: np.ndarray
    test: np.ndarray
    test_anomalous: np.ndarray
    test_groups: list[str]
    facts: dict[str, object] = field(default_factory=dict)
    known_anomalies: np.ndarray | None = None  # labelled anomalies for the training set (Deep SAD), if any
    planted: np.ndarray | None = None  # indices of unlabelled anomalies mixed into ``train`` (pollution), if any


@dataclass
class LabelledSet:
    """A whole torchvision set: images (uint8 NHWC) and integer labels."""

    train: np.ndarray
    train_labels: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    class_names: list[str]


def default_data_root() -> Path:
    """``$INSPECT_SVDD_DATA``, else ``../shared/datasets`` (where this project keeps real data)."""
    return Path(os.environ.get(DATA_ROOT_ENV, "../shared/datasets"))


def default_cache() -> Path:
    """Writable folder for files unpacked from a read-only data root."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "inspect-svdd"))


def _idx_complete(path: Path) -> bool:
    """Whether ``path`` is a whole idx file: its size is what its header's dimensions say (a cut-off copy is not)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
            if len(head) < 4 or head[:2] != b"\0\0":
                return False
            dims = np.frombuffer(fh.read(4 * head[3]), dtype=">u4")
        width = {8: 1, 9: 1, 11: 2, 12: 4, 13: 4, 14: 8}.get(head[2], 0)  # the idx type codes
        return len(dims) == head[3] and width > 0 and path.stat().st_size == 4 + 4 * head[3] + width * int(np.prod(dims))
    except OSError:
        return False


def _unpacked_mnist_root(kind: Any, root: Path, cache: Path) -> Path:
    """A root in which torchvision finds ``kind``'s unpacked idx files.

    A root holding only the original ``.gz`` files (as a read-only share may)
    is unpacked into ``cache`` after torchvision's own md5 check of each file;
    a cached file whose size disagrees with its header is unpacked again.
    """
    from torchvision.datasets.utils import check_integrity, extract_archive

    raw = root / kind.__name__ / "raw"
    names = [Path(url).name for url, _ in kind.resources]
    if all(_idx_complete(raw / Path(n).stem) for n in names):
        return root
    target = cache / kind.__name__ / "raw"
    for (_url, md5), name in zip(kind.resources, names, strict=True):
        if _idx_complete(target / Path(name).stem):
            continue
        if not check_integrity(str(raw / name), md5):
            raise DatasetError(f"{raw / name}: missing or corrupt (md5 differs); pass --download on a connected machine")
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:  # then one rename: parallel runs (Ray tasks)
            extract_archive(str(raw / name), tmp)                      # never read a half-written file
            os.replace(Path(tmp) / Path(name).stem, target / Path(name).stem)
    return cache


def load_torchvision(name: str, root: str | Path, download: bool = False, cache: str | Path | None = None) -> LabelledSet:
    """Load MNIST, Fashion-MNIST or CIFAR-10 from ``root`` in torchvision's layout.

    Raises:
        DatasetError: the set is not under ``root`` and ``download`` is False.
    """
    import torchvision.datasets as tvd

    if name not in TORCHVISION_SETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(TORCHVISION_SETS)}")
    kind = getattr(tvd, TORCHVISION_SETS[name])
    root = Path(root)
    if name == "cifar10":
        if (root / "cifar10" / "train").is_dir() and not download:
            return read_image_folder(root / "cifar10")
        if download:
            kind(str(root), train=True, download=True)
        return _read_cifar(kind, root)
    if not download:
        root = _unpacked_mnist_root(kind, root, Path(cache) if cache else default_cache())
    try:
        train, test = (kind(str(root), train=flag, download=download) for flag in (True, False))
    except RuntimeError as exc:  # torchvision's "Dataset not found or corrupted"
        raise DatasetError(f"{root}: {TORCHVISION_SETS[name]} not found ({exc}); pass --download to fetch it") from None

    def arrays(ds: object) -> tuple[np.ndarray, np.ndarray]:
        data = np.asarray(ds.data, dtype=np.uint8)  # type: ignore[attr-defined]
        return (data[..., None] if data.ndim == 3 else data), np.asarray(ds.targets, dtype=np.int64)  # type: ignore[attr-defined]

    (xtr, ytr), (xte, yte) = arrays(train), arrays(test)
    return LabelledSet(xtr, ytr, xte, yte, list(train.classes))


def read_image_folder(folder: Path) -> LabelledSet:
    """A labelled set in an ImageFolder layout: ``train/<class>/*`` and ``test/<class>/*``, classes in sorted order.

    Where ``train_filenames.txt`` / ``test_filenames.txt`` give the official
    order (as ``../shared/datasets/cifar10`` does), images come in that order,
    so subsampling picks the same images as from the original arrays. Images
    go through the toolkit's decoder (lossless WebP, PNG...; OpenCV's BGR
    becomes RGB there).

    Raises:
        DatasetError: a split or class folder is missing or a listed file is unreadable.
    """
    from inspect_svdd.errors import ImageError
    from inspect_svdd.io.images import decode_bytes, read_file

    classes = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())
    out: list[np.ndarray] = []
    for split in ("train", "test"):
        if not (folder / split).is_dir():
            raise DatasetError(f"{folder / split}: missing; expected train/<class>/ and test/<class>/")
        listing = folder / f"{split}_filenames.txt"
        if listing.is_file():
            names = [n.strip() for n in listing.read_text().splitlines() if n.strip()]
            where = {p.name: p for c in classes for p in (folder / split / c).iterdir()}
            paths = [where[n] for n in names if n in where]
        else:
            paths = [p for c in classes for p in sorted((folder / split / c).iterdir())]
        try:
            images = np.stack([decode_bytes(read_file(p), p) for p in paths])
        except ImageError as exc:
            raise DatasetError(str(exc)) from None
        out += [images, np.array([classes.index(p.parent.name) for p in paths], dtype=np.int64)]
    return LabelledSet(out[0], out[1], out[2], out[3], classes)


def _read_cifar(kind: Any, root: Path) -> LabelledSet:
    """Read CIFAR-10's python pickles (``cifar-10-batches-py``) without torchvision's md5 check.

    The file names come from torchvision; skipping the checksum lets a test
    use a tiny file in the same format.
    """
    import pickle

    folder = root / kind.base_folder

    def unpickle(name: str) -> dict[str, object]:
        path = folder / name
        if not path.is_file():
            raise DatasetError(f"{path}: CIFAR-10 file missing; expected torchvision's layout, or pass --download")
        try:
            with path.open("rb") as fh:
                return pickle.load(fh, encoding="latin1")
        except (pickle.UnpicklingError, EOFError, ValueError) as exc:
            raise DatasetError(f"{path}: not a CIFAR-10 batch file ({exc})") from None

    def batches(files: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        parts = [unpickle(name) for name, _md5 in files]
        data = np.concatenate([np.asarray(p["data"], dtype=np.uint8) for p in parts])
        labels = np.concatenate([np.asarray(p["labels"], dtype=np.int64) for p in parts])
        return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels

    (xtr, ytr), (xte, yte) = batches(kind.train_list), batches(kind.test_list)
    names = [str(n) for n in unpickle(kind.meta["filename"])[kind.meta["key"]]]  # type: ignore[attr-defined]
    return LabelledSet(xtr, ytr, xte, yte, names)


def subsample(n: int, limit: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded random subset of ``range(n)`` of at most ``limit``."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def one_class_split(data: LabelledSet, normal: int, train_limit: int | None = None,
                    test_limit: int | None = None, seed: int = 0) -> Split:
    """The paper's protocol: train on class ``normal`` only, test on the whole test set."""
    train = data.train[data.train_labels == normal]
    train = train[subsample(len(train), train_limit, seed)]
    keep = subsample(len(data.test), test_limit, seed)
    labels = data.test_labels[keep]
    return Split(train, data.test[keep], labels != normal, [data.class_names[i] for i in labels],
                 {"normal": data.class_names[normal], "train_count": len(train), "test_count": len(keep)})


def with_known_anomalies(split: Split, data: LabelledSet, normal: int, ratio: float, seed: int) -> Split:
    """Add labelled anomalies from one other class's training images, the Deep SAD paper's first scenario.

    ``ratio`` is their share of the labelled training data (gamma_l in Ruff et
    al., 2020): ``ratio * n / (1 - ratio)`` images beside ``n`` normal ones.
    The known class is ``normal + 1 + seed`` (mod the class count), so seeds
    walk through the other classes; the test set is unchanged.
    """
    known = (normal + 1 + seed % (len(data.class_names) - 1)) % len(data.class_names)
    count = max(1, round(ratio * len(split.train) / (1 - ratio)))
    pool = data.train[data.train_labels == known]
    split.known_anomalies = pool[subsample(len(pool), count, seed)]
    split.facts["known_anomalies"] = {"class": data.class_names[known], "count": len(split.known_anomalies),
                                      "ratio": ratio}
    return split


def _planted_count(rate: float, normal: int) -> int:
    """Anomalies to mix in so that they are ``rate`` of the training set: ``rate * n / (1 - rate)`` beside ``n``."""
    return max(1, round(rate * normal / (1 - rate))) if rate > 0 else 0


def _plant(split: Split, extra: np.ndarray, rate: float, source: str) -> Split:
    n = len(split.train)
    split.train = np.concatenate([split.train, extra])
    split.planted = np.arange(n, n + len(extra))
    split.facts["pollution"] = {"rate": rate, "count": len(extra), "source": source}
    split.facts["train_count"] = len(split.train)
    return split


def pollute_with_classes(split: Split, data: LabelledSet, normal: int, rate: float, seed: int) -> Split:
    """Mix unlabelled images of every other class into the training set (the one-class labs' pollution)."""
    pool = data.train[data.train_labels != normal]
    chosen = pool[subsample(len(pool), _planted_count(rate, len(split.train)), seed + 11)]
    return _plant(split, chosen, rate, "other classes' training images")


def _take_defects(split: Split, count: int, seed: int) -> np.ndarray:
    """Take a seeded draw of ``count`` of the test set's defects out of it (at least one stays); return them."""
    defects = np.flatnonzero(split.test_anomalous)
    taken = np.sort(np.random.default_rng(seed).choice(defects, size=min(count, len(defects) - 1), replace=False))
    keep = np.setdiff1d(np.arange(len(split.test)), taken)
    images = split.test[taken]
    split.test, split.test_anomalous = split.test[keep], split.test_anomalous[keep]
    split.test_groups = [split.test_groups[i] for i in keep]
    split.facts["test_count"] = len(keep)
    return images


def pollute_from_test(split: Split, rate: float, seed: int) -> Split:
    """Move a seeded share of the test set's defects into the training set, unlabelled (a dirty golden folder)."""
    planted = _take_defects(split, _planted_count(rate, len(split.train)), seed + 11)
    return _plant(split, planted, rate, "test defects moved into training")


def validation_from_test(split: Split, count: int, seed: int) -> np.ndarray:
    """A seeded draw of ``count`` test defects taken out of the test set: the real parts of ``fit --validate``."""
    drawn = _take_defects(split, count, seed + 13)
    split.facts["validation_count"] = len(drawn)
    return drawn


def load_mvtec(root: str | Path, cfg: PreprocessConfig, channels: str = "auto",
               train_limit: int | None = None, test_limit: int | None = None, seed: int = 0) -> tuple[Split, PreprocessConfig]:
    """A folder in the MVTec AD layout: ``train/good``, ``test/good``, ``test/<defect type>``.

    Images go through the shared loader and preprocessing, exactly as in
    ``fit`` and ``score``; ``test_limit`` caps each test group separately.

    Raises:
        DatasetError: the layout is missing a part.
    """
    root = Path(root)
    golden, tests = root / "train" / "good", root / "test"
    if not golden.is_dir() and (root / "golden").is_dir():  # the layout of samples/: golden/ and incoming/
        golden, tests = root / "golden", root / "incoming"
    for part in (golden, tests / "good"):
        if not part.is_dir():
            raise DatasetError(f"{root}: no {part.relative_to(root)} folder; expected the MVTec AD layout "
                               "(train/good, test/good, test/<defect>) or golden/ and incoming/")

    def chosen(folder: Path, limit: int | None) -> list[Path]:
        files = list_images(folder)
        return [files[i] for i in subsample(len(files), limit, seed)]

    train = load_folder(golden, cfg, channels, paths=chosen(golden, train_limit))
    cfg, skipped = train.preprocess, len(train.skipped)
    groups = sorted(p.name for p in tests.iterdir() if p.is_dir())
    if groups == ["good"]:
        raise DatasetError(f"{tests}: no defect folder beside good; nothing to detect")
    test, names = [], []
    for group in groups:
        loaded = load_folder(tests / group, cfg, str(cfg.channels), paths=chosen(tests / group, test_limit))
        skipped += len(loaded.skipped)
        test.append(loaded.images)
        names += [group] * len(loaded.images)
    anomalous = np.array([g != "good" for g in names])
    facts = {"normal": "good", "train_count": len(train.images), "test_count": len(names), "skipped": skipped}
    return Split(train.images, np.concatenate(test), anomalous, names, facts), cfg
