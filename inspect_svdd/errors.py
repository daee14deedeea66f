"""Typed errors with messages a line worker can act on.

Every error that can reach a user derives from :class:`InspectError`. The CLI
turns them into one-line messages; library code never uses ``assert`` for user
input.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class InspectError(Exception):
    """Base class of every error inspect-svdd reports to a user."""


class ImageError(InspectError):
    """One image file cannot be used (missing, corrupt, unsupported pixel type...)."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DatasetError(InspectError):
    """A folder of images cannot be used (empty, no images, too few images)."""


class ModelError(InspectError):
    """A model directory or file is missing, incomplete or from an incompatible version."""


class ConfigError(InspectError):
    """A setting is out of range or inconsistent with another one."""


class ExportError(InspectError):
    """ONNX export failed or the exported graph disagrees with PyTorch."""


class ExitCode(IntEnum):
    """What ``score`` (and the other commands) return to the shell or the line's PLC script."""

    PASS = 0
    FAIL = 1
    USAGE = 2
    UNREADABLE = 3


EXIT_MEANINGS = {  # each code's meaning, as `score --help` prints it
    ExitCode.PASS: "every image passed",
    ExitCode.FAIL: "at least one image failed (none unreadable)",
    ExitCode.USAGE: "usage error: bad option, missing folder, unusable model",
    ExitCode.UNREADABLE: "at least one image could not be read (error rows; the rest were scored)",
}


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type name when the message is empty."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
