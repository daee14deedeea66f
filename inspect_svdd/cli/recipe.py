"""``recipe run`` / ``recipe report``: validation benchmarks from recipes/*.yaml."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import click

from inspect_svdd.cli.common import CliError, handle_errors, log, main


@main.group()
def recipe() -> None:
    """Validation benchmarks (the paper's one-class protocol, MVTec-layout folders)."""


@recipe.command("run")
@click.argument("recipe_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--setting", help="Setting of the recipe, e.g. paper or toolkit [default: the recipe's first].")
@click.option("--size", default="full", show_default=True, help="Size of the recipe (e.g. smoke, subset, full).")
@click.option("--classes", help="Normal classes to run, e.g. 0-9 or 1,7 (default: the size's).")
@click.option("--seeds", default=1, show_default=True, type=click.IntRange(1), help="Seeds per class (0, 1, ...).")
@click.option("--data-root", type=click.Path(path_type=Path, file_okay=False),
              help="Datasets root in torchvision's layout [default: $INSPECT_SVDD_DATA or ../shared/datasets].")
@click.option("--download", is_flag=True, help="Let torchvision fetch a missing dataset (needs a network).")
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False), default=Path("results"),
              show_default=True, help="Folder for <recipe>-<setting>-<size>.json/.md/.png.")
@click.option("--resume", is_flag=True, help="Keep finished runs of an earlier, interrupted call.")
@click.option("--threads", type=click.IntRange(1), help="torch CPU threads (default: torch's choice).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: each (case, seed) is a Ray task with --threads CPUs (default 1); pip install 'inspect-svdd[ray]'.")
@click.option("--address", help="--engine ray: the cluster to join (e.g. 10.0.0.5:6379); default: a local Ray instance.")
@click.option("--save-models", type=click.Path(path_type=Path, file_okay=False),
              help="Also save each run's model here (<case>-seed<seed>/), e.g. to `evaluate` it on the same split.")
@click.option("--pollution", type=click.FloatRange(0, 0.5, max_open=True),
              help="Share of unlabelled anomalies mixed into the training set, instead of the setting's (a pollution "
                   "sweep); the results file is named <recipe>-<setting>-<size>-pollution-<percent>.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or log lines.")
@handle_errors
def run(recipe_file: Path, setting: str | None, size: str, classes: str | None, seeds: int, data_root: Path | None,
        download: bool, output: Path, resume: bool, threads: int | None, engine: str, address: str | None,
        save_models: Path | None, pollution: float | None, quiet: bool) -> None:
    """Run RECIPE_FILE: fit per class and seed, score the test set, compare baselines and the paper."""
    import torch

    from inspect_svdd.bench.data import default_data_root
    from inspect_svdd.bench.recipe import load_recipe, parse_cases
    from inspect_svdd.bench.runner import RecipeRunner, RunOptions
    from inspect_svdd.bench.tables import markdown, write_reports

    if engine == "ray" and importlib.util.find_spec("ray") is None:
        raise CliError("--engine ray needs Ray: pip install 'inspect-svdd[ray]'")
    if address and engine != "ray":
        raise CliError("--address is for --engine ray")
    if threads:
        torch.set_num_threads(threads)
    rec = load_recipe(recipe_file)
    options = RunOptions(setting or next(iter(rec.settings)), size, parse_cases(classes), seeds,
                         data_root or default_data_root(), download, resume, progress=not quiet, save_models=save_models,
                         pollution=pollution)
    runner = RecipeRunner(rec, options, output, log=lambda m: log(m, quiet))
    try:
        if engine == "ray":
            from inspect_svdd.bench.ray_grid import run_on_ray
            from inspect_svdd.deploy.ray_engine import start

            log(f"Ray: {start(address)} CPUs; each (case, seed) a task with {threads or 1} of them", quiet)
            doc = run_on_ray(runner, threads or 1)
        else:
            doc = runner.run()
    except KeyboardInterrupt:
        click.echo(f"interrupted; finished runs are kept in {runner.json_path} (repeat with --resume)", err=True)
        raise SystemExit(130) from None
    md, png = write_reports(doc, runner.json_path)
    click.echo(markdown(doc))
    log(f"wrote {runner.json_path}, {md}, {png}", quiet)


def _read_results(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CliError(f"{path}: not a recipe results file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise CliError(f"{path}: not a recipe results file (no 'runs' list)")
    return doc


@recipe.command("merge")
@click.argument("parts", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Merged results file (its .md and .png are written beside it).")
@handle_errors
def merge(parts: tuple[Path, ...], output: Path) -> None:
    """Join PARTS of one benchmark run split over processes or machines (e.g. by --classes)."""
    from inspect_svdd.bench.runner import merge_documents
    from inspect_svdd.bench.tables import markdown, write_reports

    doc = merge_documents([(str(p), _read_results(p)) for p in parts])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(doc, indent=1) + "\n")
    md, png = write_reports(doc, output)
    click.echo(markdown(doc))
    log(f"wrote {output}, {md}, {png}")


@recipe.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@handle_errors
def report(results: tuple[Path, ...]) -> None:
    """Rewrite the markdown table and plot of RESULTS JSON files (e.g. of a run still going)."""
    from inspect_svdd.bench.tables import markdown, write_reports

    for path in results:
        doc = _read_results(path)
        try:
            md, png = write_reports(doc, path)
        except (KeyError, TypeError) as exc:
            raise CliError(f"{path}: not a recipe results file (missing {exc})") from None
        click.echo(markdown(doc))
        log(f"wrote {md}, {png}")


@recipe.command("sweep")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the tables to this markdown file.")
@click.option("--rename", "renames", multiple=True, metavar="OLD=NEW",
              help="Put setting OLD's results in row NEW (a setting that fixes its own pollution rate is the same "
                   "method as NEW run with --pollution). Repeatable.")
@handle_errors
def sweep(results: tuple[Path, ...], output: Path | None, renames: tuple[str, ...]) -> None:
    """Summarise a pollution sweep: RESULTS of one recipe and size, a row per setting, a column per pollution rate."""
    from inspect_svdd.bench.sweep import sweep_markdown

    pairs = [r.split("=") for r in renames]
    bad = [r for r, pair in zip(renames, pairs, strict=True) if len(pair) != 2 or not all(pair)]
    if bad:
        raise CliError(f"--rename {bad[0]}: expected OLD=NEW, two setting names")
    text = sweep_markdown([(str(p), _read_results(p)) for p in results], dict(pairs))
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    click.echo(text, nl=False)
