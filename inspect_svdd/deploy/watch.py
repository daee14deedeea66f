"""Following a hot folder: hand out each new image once it is complete, move scored files by verdict.

Polling rather than file-system events: it works the same on local disks and
on the network shares cameras often write to (SMB/NFS, where inotify events do
not arrive), needs no extra dependency on a line PC, and completeness has to
be judged from the file's size anyway. A file counts as complete once its
size and modification time have not changed for ``settle`` seconds: that
covers a writer that writes in place, and a writer that writes under a
temporary name (a dot-file, or a suffix that is not an image's, e.g.
``.tmp``/``.part``) and renames it when done, which is never seen half-written.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from inspect_svdd.errors import DatasetError
from inspect_svdd.io.images import list_images


class FolderWatch:
    """Which images under ``root`` are new and complete.

    Args:
        root: the folder the camera writes into (searched recursively).
        settle: seconds a file's size and time must stay unchanged.
        exclude: folders under ``root`` to ignore (where ``--sort-into`` moves files, ``--heatmaps`` writes).
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, root: Path, settle: float = 1.0, exclude: Path | list[Path] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.root, self.settle, self.clock = root, settle, clock
        folders = [exclude] if isinstance(exclude, Path) else list(exclude or [])
        self.exclude = [f.resolve() for f in folders]
        self.seen: dict[Path, tuple[tuple[int, int], float]] = {}  # path -> (size, mtime), since when
        self.handed: dict[Path, tuple[int, int]] = {}  # path -> (size, mtime) when handed over

    def _listing(self) -> list[Path]:
        try:
            paths = list_images(self.root)
        except DatasetError:  # nothing there yet, or only files still under a temporary name
            if not self.root.is_dir():
                raise
            return []
        if self.exclude:
            paths = [p for p in paths if not any(p.resolve().is_relative_to(f) for f in self.exclude)]
        return paths

    def ready(self) -> list[Path]:
        """New images whose size and time have been stable for ``settle`` seconds, in sorted order."""
        now = self.clock()
        out, states = [], {}
        listing = self._listing()
        present = set(listing)
        for gone in [p for p in self.handed if p not in present]:  # moved away or deleted: a new file
            del self.handed[gone]  # of that name (a camera reusing names) is scored again
        for path in listing:
            try:
                info = path.stat()
            except FileNotFoundError:  # renamed or removed between listing and stat
                continue
            state = (info.st_size, info.st_mtime_ns)
            if self.handed.get(path) == state:
                continue  # this very file was handed over already
            states[path] = state
            previous = self.seen.get(path)
            if previous is None or previous[0] != state:
                self.seen[path] = (state, now)
            elif now - previous[1] >= self.settle:
                out.append(path)
        for path in out:
            self.handed[path] = states[path]
            self.seen.pop(path, None)
        return out


def sort_into(path: Path, root: Path, target: Path, verdict: str) -> Path:
    """Move a scored file to ``target/<verdict>/<its path under root>``, never overwriting: ``_1``, ``_2``... are added."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        relative = Path(path.name)
    dest = target / verdict / relative
    dest.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    while dest.exists():
        n += 1
        dest = dest.with_name(f"{Path(relative.name).stem}_{n}{relative.suffix}")
    shutil.move(str(path), dest)
    return dest
