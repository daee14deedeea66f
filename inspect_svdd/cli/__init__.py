"""The ``inspect-svdd`` command line: parse options, call the library, print, exit.

Each command lives in a small module that registers itself on the group;
importing them here makes ``inspect_svdd.cli:main`` the complete CLI.
"""

from inspect_svdd.cli import augment, evaluate, fit, info, recipe, score  # noqa: F401  (registers the commands)
from inspect_svdd.cli.common import main

__all__ = ["main"]
