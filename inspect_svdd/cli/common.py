"""Shared pieces of the command line: the group, error mapping, option parsers.

No maths here. Library errors (:class:`InspectError`) become one-line messages
with exit code 2; results go to stdout or files, logs and progress to stderr.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from inspect_svdd import __version__
from inspect_svdd.errors import EXIT_MEANINGS, ExitCode, InspectError

F = TypeVar("F", bound=Callable[..., Any])
FULL_INSTALL_ONLY = {"torch", "onnx", "onnxscript", "albumentations", "sklearn", "matplotlib", "tqdm",
                     "yaml"}  # dependencies of the full install that the runtime distribution does not have
BENCH_ONLY = {"torchvision"}  # the [bench] extra: torchvision's dataset readers for the paper's benchmarks

SCORE_EPILOG = "\b\nExit codes:\n" + "".join(f"  {int(code)}  {text}\n" for code, text in EXIT_MEANINGS.items())


class CliError(click.ClickException):
    """A user-facing error: one line on stderr, exit code 2."""

    exit_code = int(ExitCode.USAGE)


def handle_errors(func: F) -> F:
    """Turn library errors into one-line CLI errors (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InspectError as exc:
            raise CliError(str(exc)) from None
        except ModuleNotFoundError as exc:
            top = (exc.name or "").split(".")[0]
            if top in FULL_INSTALL_ONLY:  # the torch-free runtime install
                raise CliError(f"this command needs {top}, which the runtime install "
                               "(inspect-svdd-runtime) leaves out; install the full inspect-svdd for it") from None
            if top in BENCH_ONLY:
                raise CliError(f"this command needs {top}: pip install 'inspect-svdd[bench]'") from None
            raise

    return wrapper  # type: ignore[return-value]


def log(message: str, quiet: bool = False) -> None:
    """Print a log line to stderr unless quiet."""
    if not quiet:
        click.echo(message, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="inspect-svdd")
def main() -> None:
    """Learn what good parts look like from golden samples; pass/fail new images (Deep SVDD)."""


def elapsed(start: float) -> str:
    """Seconds since ``start`` as text."""
    return f"{time.perf_counter() - start:.1f} s"


HEATMAP_METHODS = ("auto", "occlusion", "gradcam", "map")  # inspect_svdd.evaluate.heatmaps.METHODS, plus auto
HEATMAP_HELP = ("occlusion works through ONNX Runtime and PyTorch; gradcam needs --backend torch; map is a local "
                "model's own anomaly map (both backends). auto: map when the model has one, else occlusion.")
