"""The command line's shape (issue 25): every config field reaches `fit` as an option with help, through one
mapping; every option of every command has help; pretrain takes only what pretraining uses; small functions."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import click
import click.testing
import pytest

from inspect_svdd.cli import main
from inspect_svdd.cli.options import SEP, build_config, config_options, field_help
from inspect_svdd.config import SECTIONS, used_by_pretraining

CLI = Path(__file__).resolve().parents[2] / "inspect_svdd" / "cli"


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _commands(command, f"{prefix}{name} ")
        else:
            out.append((f"{prefix}{name}", command))
    return out


def test_every_config_field_is_a_fit_option_with_its_docstring_help() -> None:
    params = {p.name: p for p in main.commands["fit"].params}
    for section, kind in SECTIONS.items():
        helps = field_help(kind)
        for spec in dataclasses.fields(kind):
            param = params.get(f"{section}{SEP}{spec.name}")
            assert param is not None, f"{section}.{spec.name} has no fit option"
            assert helps.get(spec.name), f"{kind.__name__}.{spec.name} has no entry in its Attributes docstring"
            assert isinstance(param, click.Option) and param.help and param.help[1:].startswith(helps[spec.name][1:])


def test_pretrain_takes_the_fields_pretraining_uses_and_no_others() -> None:
    names = {p.name for p in main.commands["pretrain"].params}
    assert "train__ae_epochs" in names and "preprocess__image_size" in names and "train__seed" in names
    assert not {n for n in names if n.startswith("score" + SEP)}
    assert "train__epochs" not in names and "train__target_frr" not in names and "train__min_steps" not in names
    assert all(used_by_pretraining(n.partition(SEP)[2]) for n in names if n.startswith("train" + SEP))


@pytest.mark.parametrize(("name", "command"), _commands(main), ids=[n for n, _ in _commands(main)])
def test_every_option_of_every_command_has_help(name: str, command: click.Command) -> None:
    missing = [p.name for p in command.params if isinstance(p, click.Option) and not (p.help or "").strip()
               and p.name != "help"]
    assert not missing, f"{name}: options without help: {missing}"


def test_no_cli_function_is_longer_than_40_lines() -> None:
    long = []
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 40:
                long.append(f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long


def test_a_new_config_field_reaches_the_cli_with_no_other_edit() -> None:
    """A dataclass with one more field (and its docstring entry) gets its option, parsed into the config dict."""

    @dataclasses.dataclass(frozen=True)
    class Extra:
        """Test section.

        Attributes:
            shiny_new: a field added by a test, with help.
            pair: two numbers.
        """

        shiny_new: float = 0.5
        pair: tuple[int, ...] = (1, 2)

    sections = dict(SECTIONS)
    try:
        SECTIONS.clear()
        SECTIONS["extra"] = Extra

        @click.command()
        @config_options()
        def probe(config_file: object, **kw: object) -> None:
            click.echo(repr(sorted(kw.items())))

        result = click.testing.CliRunner().invoke(probe, ["--shiny-new", "0.25", "--pair", "3,4"])
        help_text = click.testing.CliRunner().invoke(probe, ["--help"]).output
    finally:
        SECTIONS.clear()
        SECTIONS.update(sections)
    assert result.exit_code == 0, result.output
    assert "('extra__pair', (3, 4)), ('extra__shiny_new', 0.25)" in result.output
    assert "A field added by a test, with help." in help_text


def test_options_over_a_config_file_are_validated_once_after_merging(tmp_path: Path) -> None:
    """--frame-size 192 alone is invalid with 128-px tiles, valid with the file's 64-px tiles."""
    (tmp_path / "c.yaml").write_text("preprocess: {image_size: 64}\nnet: {architecture: pooled}\n")
    command = main.commands["fit"]
    with command.make_context("fit", ["golden", "--frame-size", "192", "--widths", "8,16", "--config",
                                      str(tmp_path / "c.yaml")]) as ctx:
        kw = {k: v for k, v in ctx.params.items() if SEP in k}
        cfg, channels = build_config(kw, tmp_path / "c.yaml")
    assert (cfg.preprocess.image_size, cfg.preprocess.frame_size, cfg.net.widths, channels) == (64, 192, (8, 16), "auto")
    assert cfg.net.architecture == "pooled"


@pytest.mark.parametrize(("args", "message"), [
    (["--roi", "1,2,3"], "Invalid value for '--roi': expected 4 comma-separated values, got '1,2,3'"),
    (["--widths", "8,x"], "Invalid value for '--widths': expected comma-separated int values, got '8,x'"),
    (["--lr-milestones", "40,late"], "Invalid value for '--lr-milestones': expected comma-separated int values"),
])
def test_a_bad_list_option_is_one_usage_error_before_anything_runs(args: list[str], message: str,
                                                                    tmp_path: Path) -> None:
    result = click.testing.CliRunner().invoke(main, ["fit", str(tmp_path / "none"), "-o", str(tmp_path / "m"), *args])
    assert result.exit_code == 2 and message in result.output and not (tmp_path / "m").exists()
