"""``score`` and ``export``: model -> verdicts on a folder, model -> ONNX file."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from inspect_svdd.cli.common import SCORE_EPILOG, CliError, handle_errors, log, main
from inspect_svdd.errors import ModelError

if TYPE_CHECKING:  # numpy and OpenCV stay out of `inspect-svdd --help`
    from inspect_svdd.deploy.results import RowLog
    from inspect_svdd.deploy.scoring import Backend, Row


def open_backend(model: Path, backend: str, device: str, threads: int | None) -> Backend:
    """Pick and open a backend: onnx when the model has (or is) an ONNX file, else torch."""
    from inspect_svdd.layout import ONNX_FILE

    onnx_path = model if model.suffix == ".onnx" else model / ONNX_FILE
    if backend == "auto":
        backend = "onnx" if onnx_path.is_file() else "torch"
    if backend == "onnx":
        from inspect_svdd.deploy.runtime import OnnxScorer, check_pair

        if not model.exists():
            raise ModelError(f"{model}: model directory does not exist")
        if not onnx_path.is_file():
            raise ModelError(f"{onnx_path}: no ONNX file; run `inspect-svdd export {model}` or use --backend torch")
        scorer = OnnxScorer(onnx_path, device=device, threads=threads)
        check_pair(onnx_path.parent, scorer)
        return scorer
    if model.suffix == ".onnx":
        raise ModelError(f"{model}: the torch backend needs the model directory, not the ONNX file")
    if device == "cuda":
        raise CliError("--device cuda is for the onnx backend")
    from inspect_svdd.deploy.torch_backend import TorchBackend

    return TorchBackend.load(model)


@main.command(epilog=SCORE_EPILOG)
@click.argument("incoming", type=click.Path(path_type=Path))
@click.option("-m", "--model", type=click.Path(path_type=Path), default=Path("model"), show_default=True,
              help="Model directory (or its .onnx file).")
@click.option("--csv", "csv_path", metavar="FILE", help="Write one row per image to FILE; '-' for stdout.")
@click.option("--jsonl", "jsonl_path", metavar="FILE", help="Write one JSON object per image and line to FILE; '-' for stdout.")
@click.option("--resume", is_flag=True, help="Continue the --csv/--jsonl FILE of an interrupted run: skip images it holds.")
@click.option("--watch", is_flag=True, help="Keep going: score new files as they arrive, until Ctrl-C or SIGTERM.")
@click.option("--settle", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="--watch: seconds a new file's size must stay unchanged before it is scored.")
@click.option("--poll", type=click.FloatRange(min=0.01), default=0.5, show_default=True,
              help="--watch: seconds between looks at the folder.")
@click.option("--sort-into", type=click.Path(path_type=Path, file_okay=False),
              help="Move each scored file into DIR/pass, DIR/fail or DIR/error (never overwriting).")
@click.option("--backend", type=click.Choice(["auto", "onnx", "torch"]), default="auto", show_default=True,
              help="auto: ONNX Runtime when the model has model.onnx, else PyTorch.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: a pool of Ray actors, one ONNX Runtime session each (pip install 'inspect-svdd[ray]').")
@click.option("--address", help="--engine ray: the cluster to join (e.g. 10.0.0.5:6379); default: a local Ray instance.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="ONNX Runtime device; auto uses CUDA only where it really works.")
@click.option("--radius", type=click.FloatRange(min=0),
              help="Decision radius overriding the model's (score = distance - radius^2).")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1),
              help="Images scored together (memory grows with it).")
@click.option("--workers", default=2, show_default=True, help="Decoding threads.")
@click.option("--threads", type=int, help="ONNX Runtime intra-op threads (default: all cores).")
@click.option("--heatmaps", "heatmap_dir", type=click.Path(path_type=Path),
              help="Write a heat-map overlay of every failed image under this folder (path added to the CSV).")
@click.option("--heatmap-method", type=click.Choice(["auto", "occlusion", "gradcam"]), default="auto", show_default=True,
              help="occlusion works through ONNX Runtime and PyTorch; gradcam needs --backend torch. auto: occlusion.")
@click.option("-q", "--quiet", is_flag=True, help="No per-image lines or logs; the summary still prints.")
@handle_errors
def score(incoming: Path, model: Path, csv_path: str | None, jsonl_path: str | None, resume: bool, watch: bool,
          settle: float, poll: float, sort_into: Path | None, backend: str, engine: str, address: str | None,
          device: str, radius: float | None,
          batch_size: int, workers: int, threads: int | None, heatmap_dir: Path | None, heatmap_method: str,
          quiet: bool) -> None:
    """Score every image under INCOMING (recursive, sorted; or listed, one path per line, in a .txt file).

    Each image gets a pass/fail verdict.
    """
    from inspect_svdd.deploy.results import Report, path_key
    from inspect_svdd.deploy.scoring import score_files
    targets = [t for t in (csv_path, jsonl_path) if t]
    if targets.count("-") > 1:
        raise CliError("only one of --csv and --jsonl can go to stdout")
    if resume and not [t for t in targets if t != "-"]:
        raise CliError("--resume continues a results file: give --csv FILE or --jsonl FILE")
    if watch and not incoming.is_dir():
        raise CliError(f"{incoming}: --watch needs a folder that exists")
    if engine == "ray":
        _check_ray_options(backend, watch, heatmap_dir)
    elif address:
        raise CliError("--address is for --engine ray")
    scorer = open_backend(model, "onnx" if engine == "ray" else backend, device, threads)
    heat_of = _heatmap_writer(scorer, heatmap_method, incoming, heatmap_dir) if heatmap_dir else None
    extra = ("heatmap",) if heat_of else ()
    logs = [_open_log(t, extra, resume, jsonl=t is jsonl_path) for t in targets]
    done = set.intersection(*(rl.done for rl in logs)) if logs else set()
    report = Report()
    for row in logs[0].previous if logs else []:
        if path_key(row.path) in done:
            report.add(row)  # the exit code covers the whole results file
    if sort_into is not None and logs:
        _finish_moves(logs[0].previous, incoming, sort_into)  # rows written, files not yet moved when killed
        for rl in logs:
            rl.forget_previous()  # what is in INCOMING now has not been scored
        done = set()
    skip = [d for d in (sort_into, heatmap_dir) if d is not None]  # outputs inside INCOMING are never inputs
    for rl in logs:
        if rl.repaired:
            click.echo(f"warning: {rl.target}: removed a last line cut off by an interruption; that image is scored again",
                       err=True)

    def on_row(row: Row) -> None:
        values = (heat_of(row),) if heat_of else ()
        for rl in logs:
            rl.write(row, *values)
        if not logs and not quiet:
            click.echo(_line(row) + "".join(f"  heatmap {p}" for p in values if p))
        report.add(row)  # counted once written, so an interrupt reports what was kept
        if sort_into is not None:
            _move(Path(row.path), incoming, sort_into, row.verdict)

    warned: dict[str, int] = {}

    def on_warning(path: Path, kind: str, problem: str) -> None:
        warned[kind] = warned.get(kind, 0) + 1  # one line per kind of difference, then a count
        if warned[kind] == 1:
            click.echo(f"warning: {path}: {problem}", err=True)

    def run(paths: list[Path]) -> None:
        if engine == "ray":
            from inspect_svdd.deploy.ray_engine import score_on_ray, start

            log(f"Ray: {start(address)} CPUs, one ONNX Runtime actor per CPU", quiet)
            score_on_ray(paths, getattr(scorer, "path", model), on_row, radius=radius, batch_size=batch_size)
            return
        score_files(paths, scorer, on_row, radius=radius, batch_size=batch_size, workers=workers, on_warning=on_warning)

    planned = ""
    try:
        if watch:
            _watch(incoming, skip, settle, poll, batch_size, done, run, quiet)
        else:
            paths = [p for p in _sources(incoming, resumed=bool(logs and logs[0].previous))
                     if path_key(p) not in done and not _inside(p, skip)]
            planned = f" of {len(paths) + report.total}"
            resumed = f" ({len(done)} already in the results file)" if done else ""
            log(f"scoring {len(paths)} images from {incoming} with {scorer.name} ({scorer.provider}){resumed}", quiet)
            run(paths)
    except KeyboardInterrupt:
        where = "".join(f"; rows so far are in {t} (continue with --resume)" for t in targets[:1] if t != "-")
        click.echo(f"interrupted after {report.total}{planned} images{where}", err=True)
        raise SystemExit(130) from None
    finally:
        for rl in logs:
            rl.close()
    for kind, count in warned.items():
        if count > 1:
            click.echo(f"warning: {count} images in all differ from the golden images in {kind}", err=True)
    click.echo(report.summary(scorer.name, scorer.provider), err=True)
    sys.exit(report.exit_code)


def _check_ray_options(backend: str, watch: bool, heatmap_dir: Path | None) -> None:
    """--engine ray scores through ONNX Runtime actors, in one pass; say which options it cannot take."""
    import importlib.util

    if backend == "torch":
        raise CliError("--engine ray scores with ONNX Runtime actors; drop --backend torch")
    if watch or heatmap_dir:
        raise CliError(f"{'--watch' if watch else '--heatmaps'} works with the local engine; drop --engine ray")
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


def _watch(folder: Path, skip: list[Path], settle: float, poll: float, batch_size: int, done: set[str],
           run: Callable[[list[Path]], None], quiet: bool) -> None:
    """Score the folder's images as they become complete until SIGINT or SIGTERM; stops between batches."""
    import signal
    import threading

    from inspect_svdd.deploy.watch import FolderWatch

    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    watcher = FolderWatch(folder, settle, exclude=skip)
    log(f"watching {folder} (a file is scored once its size is stable for {settle:g} s); Ctrl-C or SIGTERM stops", quiet)
    try:
        while not stop.is_set():
            ready = [p for p in watcher.ready() if _key(p) not in done]
            for i in range(0, len(ready), batch_size):
                if stop.is_set():
                    break
                run(ready[i : i + batch_size])
            if not ready:
                stop.wait(poll)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log("stopped watching", quiet)


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



