"""Command-line options made from the config dataclasses: one field, one option, one help text.

Each field of :class:`~inspect_svdd.config.PreprocessConfig`, ``NetConfig``,
``TrainConfig`` and ``ScoreConfig`` becomes an option of ``fit`` named after it
(``ae_epochs`` -> ``--ae-epochs``; ``score.rule`` is ``--score``), with the
field's default and, as help, the field's entry in its class docstring's
``Attributes:`` section. ``pretrain`` gets the fields pretraining uses
(:func:`~inspect_svdd.config.used_by_pretraining`). Adding a config field (with
its docstring entry) is the one edit that puts it on the command line. The
values are merged over a ``--config`` file as plain values and validated once.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from inspect_svdd.config import SECTIONS, FitConfig, read_yaml, used_by_pretraining
from inspect_svdd.errors import ConfigError, first_line

RENAMED = {("score", "rule"): "score", ("train", "ae_kind"): "pretrain"}  # `--score knn` reads better than `--rule knn`
CHANNELS = ("auto", "1", "3")  # the CLI's channels: auto is resolved from the golden images
SEP = "__"  # option parameter names are <section>__<field>


def field_help(kind: type) -> dict[str, str]:
    """Each field's entry in ``kind``'s ``Attributes:`` docstring section, as one line."""
    _, _, attributes = inspect.cleandoc(kind.__doc__ or "").partition("Attributes:")
    helps: dict[str, list[str]] = {}
    names: list[str] = []
    for line in attributes.splitlines():
        entry = re.match(r" {4}(\w+(?:, \w+)*): (.*)", line)
        if entry:
            names = entry.group(1).split(", ")
            for name in names:
                helps[name] = [entry.group(2)]
        elif line.startswith(" " * 8) and names:
            for name in names:
                helps[name].append(line.strip())
    return {name: " ".join(words).replace("``", "") for name, words in helps.items()}


def _listing(element: type, size: int | None) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A callback turning ``a,b,c`` into a tuple (empty text: ``()``, or None for an optional fixed-size tuple)."""

    def parse(_ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or isinstance(value, tuple):
            return value
        items = [v.strip() for v in str(value).split(",") if v.strip()]
        if size is not None and not items:
            return None
        try:
            parsed = tuple(element(v) for v in items)
        except ValueError:
            raise click.BadParameter(f"expected comma-separated {element.__name__} values, got {value!r}") from None
        if size is not None and len(parsed) != size:
            raise click.BadParameter(f"expected {size} comma-separated values, got {value!r}")
        return parsed

    return parse


def _option(section: str, spec: dataclasses.Field[Any], kind: Any, help_text: str) -> Callable[[Any], Any]:
    name = RENAMED.get((section, spec.name), spec.name).replace("_", "-")
    dest = f"{section}{SEP}{spec.name}"
    default = spec.default if spec.default is not dataclasses.MISSING else spec.default_factory()  # type: ignore[operator]
    if (section, spec.name) == ("preprocess", "channels"):
        return click.option(f"--{name}", dest, type=click.Choice(CHANNELS), default="auto", show_default=True,
                            help=f"{help_text} auto: gray if every golden image is gray.")
    present = [a for a in typing.get_args(kind) if a is not type(None)]
    if isinstance(kind, types.UnionType) and len(present) == 1:  # optional: X | None
        kind = present[0]
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        return click.option(f"--{name}/--no-{name}", dest, default=default, show_default=True, help=help_text)
    if origin is typing.Literal:
        return click.option(f"--{name}", dest, type=click.Choice(args), default=default, show_default=True, help=help_text)
    if origin is tuple:
        size = None if args[-1] is Ellipsis else len(args)
        shown = ",".join(map(str, default)) if default else ""
        metavar = ",".join("XYWH") if size == 4 else "N,N,..." if args[0] is int else "A,B,..."
        return click.option(f"--{name}", dest, default=shown, show_default=bool(shown), callback=_listing(args[0], size),
                            metavar=metavar, help=help_text)
    return click.option(f"--{name}", dest, type=kind, default=default, show_default=default is not None, help=help_text)


def config_options(pretraining: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator adding an option per config field (``pretraining``: only the fields ``pretrain`` uses)."""
    options = []
    for section, kind in SECTIONS.items():
        if pretraining and section in ("score", "local"):
            continue
        hints, helps = typing.get_type_hints(kind, include_extras=False), field_help(kind)
        for spec in dataclasses.fields(kind):
            if pretraining and section == "train" and not used_by_pretraining(spec.name):
                continue
            text = helps.get(spec.name, "")
            options.append(_option(section, spec, hints[spec.name], text[:1].upper() + text[1:]))
    options.append(click.option("--config", "config_file", type=click.Path(path_type=Path),
                                help="YAML file with preprocess/net/train/score sections (any config field); options "
                                     "given on the command line override it."))

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def _sections(kw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for key, value in kw.items():
        section, _, name = key.partition(SEP)
        if name:
            values[section][name] = list(value) if isinstance(value, tuple) else value
    return values


def build_config(kw: dict[str, Any], config_file: Path | None) -> tuple[FitConfig, str]:
    """The options' values, over a ``--config`` file when given, as one validated FitConfig, and the channels choice.

    The channels stay ``auto`` (or ``1``/``3``) here: ``auto`` is resolved from
    the golden images. A setting only valid together with the file's
    (``--frame-size 192`` with the file's ``image_size: 64``) is not refused
    on its own: everything is merged first and validated once.
    """
    values = _sections(kw)
    channels = str(values["preprocess"].pop("channels", "auto"))
    if config_file is None:
        return FitConfig.from_dict(values), channels
    ctx = click.get_current_context()
    given = {key for key in kw if SEP in key and ctx.get_parameter_source(key) == click.core.ParameterSource.COMMANDLINE}
    merged, raw = _read_config(config_file)
    if "preprocess__channels" not in given and "channels" in (raw.get("preprocess") or {}):
        channels = str(raw["preprocess"]["channels"])  # the file's choice instead of auto-detection
    for key in given - {"preprocess__channels"}:
        section, _, name = key.partition(SEP)
        merged[section][name] = values[section][name]
    if "net__architecture" in given and "net__widths" not in given:
        merged["net"]["widths"] = []  # another architecture brings its own widths
    merged["preprocess"].pop("channels", None)
    return FitConfig.from_dict(merged), channels


def _read_config(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The file's settings over the defaults (plain values, not yet validated together with the options), and the file."""
    data = read_yaml(path, "the config file")
    if not isinstance(data, dict) or set(data) - set(SECTIONS):
        raise ConfigError(f"{path}: a config file holds the sections {', '.join(SECTIONS)} only")
    try:
        return FitConfig.from_dict(data).to_dict(), data
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{path}: {first_line(exc)}") from None
