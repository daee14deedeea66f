"""``score`` and ``export``: model -> verdicts on a folder, model -> ONNX file."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from inspect_svdd.cli.common import HEATMAP_HELP, HEATMAP_METHODS, SCORE_EPILOG, CliError, handle_errors, log, main
from inspect_svdd.deploy.backends import BACKENDS, open_backend
from inspect_svdd.deploy.drift import WINDOW

if TYPE_CHECKING:  # numpy and OpenCV stay out of `inspect-svdd --help`
    from inspect_svdd.deploy.drift import DriftMonitor
    from inspect_svdd.deploy.results import RowLog
    from inspect_svdd.deploy.scoring import Backend, Row

SCORE_OPTIONS = [
    click.option("-m", "--model", type=click.Path(path_type=Path), default=Path("model"), show_default=True,
                 help="Model directory (or its .onnx file)."),
    click.option("--csv", "csv_path", metavar="FILE", help="Write one row per image to FILE; '-' for stdout."),
    click.option("--jsonl", "jsonl_path", metavar="FILE",
                 help="Write one JSON object per image and line to FILE; '-' for stdout."),
    click.option("--resume", is_flag=True, help="Continue the --csv/--jsonl FILE of an interrupted run: skip images it holds."),
    click.option("--watch", is_flag=True, help="Keep going: score new files as they arrive, until Ctrl-C or SIGTERM."),
    click.option("--settle", type=click.FloatRange(min=0), default=1.0, show_default=True,
                 help="--watch: seconds a new file's size must stay unchanged before it is scored."),
    click.option("--poll", type=click.FloatRange(min=0.01), default=0.5, show_default=True,
                 help="--watch: seconds between looks at the folder."),
    click.option("--sort-into", type=click.Path(path_type=Path, file_okay=False),
                 help="Move each scored file into DIR/pass, DIR/fail or DIR/error (never overwriting)."),
    click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
                 help="auto: ONNX Runtime when the model has model.onnx, else PyTorch."),
    click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                 help="ray: a pool of Ray actors, one single-threaded ONNX Runtime CPU session each "
                      "(pip install 'inspect-svdd[ray]'; --device and --threads are for the local engine)."),
    click.option("--address", help="--engine ray: the cluster to join (e.g. 10.0.0.5:6379); default: a local Ray instance."),
    click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                 help="ONNX Runtime device; auto uses CUDA only where it really works (the torch backend runs on the CPU)."),
    click.option("--radius", type=click.FloatRange(min=0),
                 help="Decision radius overriding the model's (score = distance - radius^2)."),
    click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1),
                 help="Images scored together (memory grows with it)."),
    click.option("--workers", default=2, show_default=True, type=click.IntRange(1), help="Decoding threads."),
    click.option("--threads", type=click.IntRange(1),
                 help="CPU threads of the scorer: ONNX Runtime's intra-op threads, or PyTorch's with the torch backend "
                      "(default: all cores)."),
    click.option("--drift-window", type=click.IntRange(0), default=WINDOW, show_default=True,
                 help="Drift alarm: warn (and add a drift event to --jsonl) when the median distance of the last N "
                      "scored parts rises above the held-out golden images' 90th percentile (at least 0.8 R^2); "
                      "scoring goes on. 0: off."),
    click.option("--heatmaps", "heatmap_dir", type=click.Path(path_type=Path),
                 help="Write a heat-map overlay of every failed image under this folder (path added to the CSV)."),
    click.option("--heatmap-method", type=click.Choice(HEATMAP_METHODS), default="auto", show_default=True,
                 help=HEATMAP_HELP),
    click.option("-q", "--quiet", is_flag=True, help="No per-image lines or logs; the summary still prints."),
]


@dataclass(frozen=True)
class ScoreOptions:
    """The options of ``score``, checked together once."""

    incoming: Path
    model: Path
    csv_path: str | None
    jsonl_path: str | None
    resume: bool
    watch: bool
    settle: float
    poll: float
    sort_into: Path | None
    backend: str
    engine: str
    address: str | None
    device: str
    radius: float | None
    batch_size: int
    workers: int
    threads: int | None
    drift_window: int
    heatmap_dir: Path | None
    heatmap_method: str
    quiet: bool

    @property
    def targets(self) -> list[str]:
        """The results files asked for ('-' is stdout)."""
        return [t for t in (self.csv_path, self.jsonl_path) if t]

    @property
    def outputs(self) -> list[Path]:
        """Folders the run writes into: files there are never inputs, even inside INCOMING."""
        return [d for d in (self.sort_into, self.heatmap_dir) if d is not None]

    def check(self) -> None:
        """Refuse combinations that cannot work, before anything is opened."""
        if self.targets.count("-") > 1:
            raise CliError("only one of --csv and --jsonl can go to stdout")
        if self.resume and not [t for t in self.targets if t != "-"]:
            raise CliError("--resume continues a results file: give --csv FILE or --jsonl FILE")
        if self.watch and not self.incoming.is_dir():
            raise CliError(f"{self.incoming}: --watch needs a folder that exists")
        if self.engine == "ray":
            _check_ray_options(self)
        elif self.address:
            raise CliError("--address is for --engine ray")


def _with_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(SCORE_OPTIONS):
        func = option(func)
    return func


@main.command(epilog=SCORE_EPILOG)
@click.argument("incoming", type=click.Path(path_type=Path))
@_with_options
@handle_errors
def score(**kw: Any) -> None:
    """Score every image under INCOMING (recursive, sorted; or listed, one path per line, in a .txt file).

    Each image gets a pass/fail verdict.
    """
    opts = ScoreOptions(**kw)
    opts.check()
    scorer = open_backend(opts.model, "onnx" if opts.engine == "ray" else opts.backend, opts.device, opts.threads)
    run = ScoreRun(opts, scorer)
    try:
        run.everything()
    except KeyboardInterrupt:
        where = "".join(f"; rows so far are in {t} (continue with --resume)" for t in opts.targets[:1] if t != "-")
        click.echo(f"interrupted after {run.report.total}{run.planned} images{where}", err=True)
        raise SystemExit(130) from None
    finally:
        for rl in run.logs:
            rl.close()
    sys.exit(run.finish())


class ScoreRun:
    """One ``score`` call: its results files, its counts, and what each scored image sets off."""

    def __init__(self, opts: ScoreOptions, scorer: Backend) -> None:
        from inspect_svdd.deploy.results import Report

        self.opts, self.scorer, self.report, self.planned = opts, scorer, Report(), ""
        self.heat_of = _heatmap_writer(scorer, opts.heatmap_method, opts.incoming, opts.heatmap_dir) \
            if opts.heatmap_dir else None
        extra = ("heatmap",) if self.heat_of else ()
        self.logs = [_open_log(t, extra, opts.resume, jsonl=t is opts.jsonl_path) for t in opts.targets]
        self.warned: dict[str, int] = {}
        self.drift = _drift_monitor(scorer, opts)
        self.done = self._resumed()

    def _resumed(self) -> set[str]:
        """Images an earlier run already holds (counted in the exit code), after finishing its pending moves."""
        from inspect_svdd.deploy.results import path_key

        done = set.intersection(*(rl.done for rl in self.logs)) if self.logs else set()
        for row in self.logs[0].previous if self.logs else []:
            if path_key(row.path) in done:
                self.report.add(row)  # the exit code covers the whole results file
        for rl in self.logs:
            if rl.repaired:
                click.echo(f"warning: {rl.target}: removed a last line cut off by an interruption; that image is scored "
                           "again", err=True)
        if self.opts.sort_into is not None and self.logs:
            _finish_moves(self.logs[0].previous, self.opts.incoming, self.opts.sort_into)  # rows written, files not moved
            for rl in self.logs:
                rl.forget_previous()  # what is in INCOMING now has not been scored
            return set()
        return done

    def on_row(self, row: Row) -> None:
        """Write, count and sort one scored image."""
        values = (self.heat_of(row),) if self.heat_of else ()
        for rl in self.logs:
            rl.write(row, *values)
        if not self.logs and not self.opts.quiet:
            click.echo(_line(row) + "".join(f"  heatmap {p}" for p in values if p))
        self.report.add(row)  # counted once written, so an interrupt reports what was kept
        if self.opts.sort_into is not None:
            _move(Path(row.path), self.opts.incoming, self.opts.sort_into, row.verdict)
        event = self.drift.add(row.path, row.verdict, row.distance) if self.drift else None
        if event is not None:
            click.echo(event.line(), err=True)
            for rl in self.logs:
                rl.write_event(event.record())

    def on_warning(self, path: Path, kind: str, problem: str) -> None:
        """One line per kind of difference from the golden images, then a count at the end."""
        self.warned[kind] = self.warned.get(kind, 0) + 1
        if self.warned[kind] == 1:
            click.echo(f"warning: {path}: {problem}", err=True)

    def run(self, paths: list[Path]) -> None:
        """Score ``paths`` with the chosen engine."""
        opts = self.opts
        if opts.engine == "ray":
            from inspect_svdd.deploy.ray_engine import score_on_ray, start

            log(f"Ray: {start(opts.address)} CPUs, one ONNX Runtime actor per CPU", opts.quiet)
            score_on_ray(paths, getattr(self.scorer, "path", opts.model), self.on_row, radius=opts.radius,
                         batch_size=opts.batch_size)
            return
        from inspect_svdd.deploy.scoring import score_files

        score_files(paths, self.scorer, self.on_row, radius=opts.radius, batch_size=opts.batch_size, workers=opts.workers,
                    on_warning=self.on_warning)

    def everything(self) -> None:
        """Score the folder once, or watch it."""
        from inspect_svdd.deploy.results import path_key

        opts = self.opts
        if opts.watch:
            _watch(opts, self.done, self.run)
            return
        paths = [p for p in _sources(opts.incoming, resumed=bool(self.logs and self.logs[0].previous))
                 if path_key(p) not in self.done and not _inside(p, opts.outputs)]
        self.planned = f" of {len(paths) + self.report.total}"
        resumed = f" ({len(self.done)} already in the results file)" if self.done else ""
        log(f"scoring {len(paths)} images from {opts.incoming} with {self.scorer.name} ({self.scorer.provider}){resumed}",
            opts.quiet)
        self.run(paths)

    def finish(self) -> int:
        """Print the warning counts and the summary; the exit code."""
        for kind, count in self.warned.items():
            if count > 1:
                click.echo(f"warning: {count} images in all differ from the golden images in {kind}", err=True)
        click.echo(self.report.summary(self.scorer.name, self.scorer.provider), err=True)
        return self.report.exit_code


def _drift_monitor(scorer: Backend, opts: ScoreOptions) -> DriftMonitor | None:
    """The drift alarm for this run, or None (off, or a model without the held-out figures it needs)."""
    from inspect_svdd.deploy.drift import DriftMonitor, drift_limit

    if opts.drift_window == 0:
        return None
    limit = drift_limit(getattr(scorer, "drift_reference", None), scorer.radius)
    if limit is None:
        log("note: no drift alarm: the model has no held-out golden figures (refit or re-export it)", opts.quiet)
        return None
    return DriftMonitor(limit, scorer.radius, opts.drift_window)


def _check_ray_options(opts: ScoreOptions) -> None:
    """--engine ray scores with single-threaded ONNX Runtime CPU actors, in one pass; say which options it cannot take."""
    import importlib.util

    if opts.backend == "torch":
        raise CliError("--engine ray scores with ONNX Runtime actors; drop --backend torch")
    if opts.watch or opts.heatmap_dir:
        raise CliError(f"{'--watch' if opts.watch else '--heatmaps'} works with the local engine; drop --engine ray")
    if opts.device == "cuda" or opts.threads is not None:
        raise CliError(f"{'--device cuda' if opts.device == 'cuda' else '--threads'} is for the local engine: Ray actors "
                       "run one single-threaded ONNX Runtime CPU session each; drop it or --engine ray")
    if importlib.util.find_spec("ray") is None:
        raise CliError("--engine ray needs Ray: pip install 'inspect-svdd[ray]'")


def _open_log(target: str, extra: tuple[str, ...], resume: bool, jsonl: bool) -> RowLog:
    """A results file, or one clear line when it cannot be opened (no such folder, no permission)."""
    from inspect_svdd.deploy.results import RowLog

    try:
        return RowLog(target, extra, resume, jsonl=jsonl)
    except OSError as exc:
        raise CliError(f"{target}: cannot write the results file ({exc.strerror})") from None


def _sources(incoming: Path, resumed: bool) -> list[Path]:
    """The images to score; a resumed run whose files were all scored and sorted away has none left (not an error)."""
    from inspect_svdd.errors import DatasetError
    from inspect_svdd.io.images import list_sources

    try:
        return list_sources(incoming)
    except DatasetError:
        if resumed and incoming.is_dir():
            return []
        raise


def _key(path: Path) -> str:
    from inspect_svdd.deploy.results import path_key

    return path_key(path)


def _inside(path: Path, folders: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(f.resolve()) for f in folders)


def _move(path: Path, incoming: Path, target: Path, verdict: str) -> None:
    """Sort a scored file; a failed move is a warning (the row is written, the file stays), never an abort."""
    from inspect_svdd.deploy.watch import sort_into as move

    try:
        move(path, incoming, target, verdict)
    except OSError as exc:
        click.echo(f"warning: {path}: cannot move it into {target / verdict} ({exc.strerror or exc}); left in place",
                   err=True)


def _finish_moves(previous: list[Row], incoming: Path, target: Path) -> None:
    """Move the files an interrupted run scored (their rows are written) but did not sort yet."""
    for row in previous:
        if row.verdict in ("pass", "fail") and Path(row.path).is_file() and not _inside(Path(row.path), [target]):
            _move(Path(row.path), incoming, target, row.verdict)


def _watch(opts: ScoreOptions, done: set[str], run: Callable[[list[Path]], None]) -> None:
    """Score the folder's images as they become complete until SIGINT or SIGTERM; stops between batches."""
    import signal
    import threading

    from inspect_svdd.deploy.watch import FolderWatch

    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    folder, batch_size = opts.incoming, opts.batch_size
    watcher = FolderWatch(folder, opts.settle, exclude=opts.outputs)
    log(f"watching {folder} (a file is scored once its size is stable for {opts.settle:g} s); Ctrl-C or SIGTERM stops",
        opts.quiet)
    try:
        while not stop.is_set():
            ready = [p for p in watcher.ready() if _key(p) not in done]
            for i in range(0, len(ready), batch_size):
                if stop.is_set():
                    break
                run(ready[i : i + batch_size])
            if not ready:
                stop.wait(opts.poll)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log("stopped watching", opts.quiet)


def _heatmap_writer(scorer: Backend, method: str, incoming: Path, out_dir: Path) -> Callable[[Row], str]:
    """Row -> path of its overlay (written for failed images), or '' (passed, unreadable)."""
    from inspect_svdd.evaluate.heatmaps import HeatMapper, target_for

    mapper = HeatMapper(scorer, method)
    existing = next(p for p in (out_dir, *out_dir.parents) if p.exists())  # created only when a part fails
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise CliError(f"{out_dir}: cannot write heat maps there ({existing} is not a writable folder)")

    def heat_of(row: Row) -> str:
        if row.verdict != "fail":
            return ""
        try:
            return str(mapper.write(row.path, target_for(Path(row.path), incoming, out_dir)))
        except OSError as exc:  # a full disk mid-run: the verdict still counts
            click.echo(f"warning: {row.path}: heat map not written ({exc.strerror or exc})", err=True)
            return ""

    return heat_of


def _line(row: Row) -> str:
    if row.verdict == "error":
        return f"error  {'':>10}  {row.path}: {row.error}"
    return f"{row.verdict:5s}  {row.score:+10.4f}  {row.path}"


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="ONNX file (default: MODEL/model.onnx).")
@click.option("--check", "check_dir", type=click.Path(path_type=Path),
              help="Folder of images for the ONNX-vs-PyTorch parity check (default: the training folder).")
@handle_errors
def export(model: Path, output: Path | None, check_dir: Path | None) -> None:
    """Export MODEL (encoder, centre, radius, preprocessing) as one ONNX file."""
    from inspect_svdd.deploy.export import export_onnx
    from inspect_svdd.io.images import list_images
    from inspect_svdd.io.preprocess import iter_loaded
    from inspect_svdd.layout import ONNX_FILE
    from inspect_svdd.model.artifact import load_model

    det, record = load_model(model)
    output = output or model / ONNX_FILE
    recorded = record.get("training", {}).get("folder")
    folder = check_dir or (Path(recorded) if recorded else None)
    if folder is None:
        raise CliError(f"{model}: no training folder recorded for the parity check; pass --check FOLDER")
    images = None
    if folder.is_dir():
        import numpy as np

        loaded = [img for _, img, _ in iter_loaded(list_images(folder)[:64], det.config.preprocess) if img is not None]
        images = np.stack(loaded) if loaded else None
    if images is None:
        raise CliError(f"no images for the parity check (training folder {folder} not found); pass --check FOLDER")
    err = export_onnx(det, output, record, images)
    click.echo(f"wrote {output}: ONNX Runtime vs PyTorch largest relative score difference {err:.1e}, same verdicts "
               f"on {len(images)} images from {folder}", err=True)



