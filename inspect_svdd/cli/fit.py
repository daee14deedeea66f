"""``fit`` and ``pretrain``: golden folder -> model directory.

Their settings are the config dataclasses' fields, made into options by
:mod:`inspect_svdd.cli.options` (defaults and help live with the fields).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path
from typing import Any

import click

from inspect_svdd.cli.common import elapsed, handle_errors, log, main
from inspect_svdd.cli.options import build_config, config_options
from inspect_svdd.config import FitConfig
from inspect_svdd.errors import InspectError

QUIET = click.option("-q", "--quiet", is_flag=True, help="No progress or log lines.")


def selection_line(selection: dict[str, Any]) -> str:
    """One line on what fit chose and why (the full table is in model.json and `inspect-svdd info`)."""
    best = selection["candidates"][0]
    runner_up = selection["candidates"][1] if len(selection["candidates"]) > 1 else None
    judged = selection.get("judged_on", {})
    beat = f"; next {runner_up['candidate']} {runner_up['escape']:.1%}" if runner_up else ""
    return (f"scorer: {selection['chosen']} chosen among {len(selection['candidates'])} on {judged.get('held_out')} held-out "
            f"golden images and {judged.get('defects')} validation defects: {best['escape']:.1%} of the defects pass at "
            f"its radius{beat} (--score/--features fix one)")


def kind_line(choice: dict[str, Any]) -> str:
    """One line on which model kind fit used and why (``--model-kind auto``: decided first; ``both``: judged)."""
    from inspect_svdd.deploy.info import decided_before_training, kind_decision

    if decided_before_training(choice):
        return "model kind: " + kind_decision(choice)
    rows = {r["candidate"]: r for r in choice["candidates"]}
    other = next(k for k in rows if k != choice["chosen"])
    judged = choice.get("judged_on", {})
    kept, beaten = rows[choice["chosen"]], rows[other]
    within = f" (within chance on {judged.get('defects')} defects: "
    why = {"partial AUROC": f"{within}the partial AUROC decided, {kept['pauroc_10']:.3f} against {beaten['pauroc_10']:.3f})",
           "lighter model": f"{within}the same partial AUROC, so the lighter model)"}.get(choice.get("decided_by", ""), "")
    return (f"model kind: {choice['chosen']} kept over {other} on {judged.get('held_out')} held-out golden images and "
            f"{judged.get('defects')} validation defects ({', '.join(judged.get('families', []))}): "
            f"{kept['escape']:.1%} of the defects pass at its radius against {beaten['escape']:.1%}{why}"
            + ("" if judged.get("families") == ["real"] else
               "; synthetic defects can favour the wrong kind (docs/local.md): --validate judges on real defective parts"))


def _skip(err: InspectError) -> None:
    click.echo(f"skipped: {err}", err=True)


def _load(golden: Path, cfg: FitConfig, channels: str, quiet: bool) -> tuple[Any, FitConfig, dict[str, Any]]:
    from inspect_svdd.io.datasets import load_folder
    from inspect_svdd.model.artifact import files_digest

    folder = load_folder(golden, cfg.preprocess, channels, on_skip=_skip)
    why = " (the golden images differ in shape; --aspect stretch overrides)" if cfg.preprocess.aspect == "auto" else ""
    cfg = dataclasses.replace(cfg, preprocess=folder.preprocess)
    p = cfg.preprocess
    tiling = f" in {p.tiles} tiles of {p.image_size}x{p.image_size}" if p.tiles > 1 else ""
    log(f"{len(folder.files)} golden images from {golden} ({len(folder.skipped)} skipped), "
        f"{p.channels} channel(s), {p.input_shape[1]}x{p.input_shape[0]}{tiling}"
        f"{f', aspect ratios kept{why}' if p.aspect == 'keep' else ''}", quiet)
    training = {
        "folder": str(golden.resolve()),  # absolute: export finds it from any working directory
        "count": len(folder.files),
        "files_sha256": files_digest(folder.files, golden),
        "golden_format": folder.format_facts(),
        "skipped": [{"path": str(p), "problem": why} for p, why in folder.skipped],
    }
    return folder, cfg, training


@main.command()
@click.argument("golden", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("ae"), show_default=True,
              help="Directory for the pretrained autoencoder.")
@config_options(pretraining=True)
@QUIET
@handle_errors
def pretrain(golden: Path, output: Path, config_file: Path | None, quiet: bool, **kw: Any) -> None:
    """Pretrain the autoencoder on GOLDEN (use it later with fit --pretrained)."""
    from inspect_svdd.model.artifact import save_pretrained
    from inspect_svdd.model.detector import DeepSVDD

    start = time.perf_counter()
    cfg, channels = build_config(kw, config_file)
    folder, cfg, training = _load(golden, cfg, channels, quiet)
    det = DeepSVDD(cfg).pretrain(folder.images, progress=not quiet)
    save_pretrained(det, output, training)
    loss = det.history_[-1]["loss"] if det.history_ else float("nan")
    click.echo(f"pretrained autoencoder written to {output} (final loss {loss:.4g}) in {elapsed(start)}", err=True)


@main.command()
@click.argument("golden", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("model"), show_default=True,
              help="Model directory to write.")
@click.option("--pretrained", type=click.Path(path_type=Path), help="Autoencoder directory from `pretrain`.")
@click.option("--onnx/--no-onnx", default=True, show_default=True, help="Also write model.onnx (with a parity check).")
@click.option("--defects", type=click.Path(path_type=Path),
              help="Folder of real defective parts (a few are enough), pushed away from the centre (Deep SAD).")
@click.option("--validate", type=click.Path(path_type=Path),
              help="Real defective parts (a folder, or a labelled folder whose good/ is skipped) that fit judges its "
                   "candidates on instead of synthetic defects (the scorers, the model kinds with --model-kind both, "
                   "the local map's share of large regions); never trained on.")
@click.option("--resume", is_flag=True,
              help="Continue the interrupted fit whose checkpoint is in OUTPUT (same golden images and settings).")
@config_options()
@QUIET
@handle_errors
def fit(golden: Path, output: Path, pretrained: Path | None, onnx: bool, defects: Path | None, validate: Path | None,
        resume: bool, config_file: Path | None, quiet: bool, **kw: Any) -> None:
    """Learn a Deep SVDD model from the good images under GOLDEN."""
    from inspect_svdd.model.local import detector_for, fit_either_kind, record_kind, resolve_kind

    start = time.perf_counter()
    cfg, channels = build_config(kw, config_file)
    if cfg.chooses_kind:
        _check_both(resume, pretrained)
    if pretrained is not None and channels == "auto":
        from inspect_svdd.layout import AE_JSON, read_json

        channels = str(read_json(pretrained, AE_JSON, "autoencoder")["config"]["preprocess"]["channels"])
    folder, cfg, training = _load(golden, cfg, channels, quiet)
    bad = _extra_parts(defects, folder, training, "defects", quiet)
    validation = _extra_parts(validate, folder, training, "validation", quiet)
    cfg, kind_facts = resolve_kind(cfg, folder.images, pretrained is not None, bad)
    if kind_facts:  # said before the training it decides, not after
        log(kind_line(kind_facts), quiet)
    det = None if cfg.chooses_kind else _with_pretrained(detector_for(cfg), pretrained, training)
    checkpoint = None if det is None else _checkpoint(output, cfg, pretrained, folder.images, bad, resume, quiet)
    try:
        if det is None:
            det = fit_either_kind(cfg, folder.images, validation, progress=not quiet, defects=bad)
        else:
            det.fit(folder.images, progress=not quiet, defects=bad, checkpoint=checkpoint, validation=validation)
    except KeyboardInterrupt:
        where = f"; `inspect-svdd fit {golden} -o {output} --resume` (same options) continues it" \
            if checkpoint is not None and checkpoint.path.is_file() else ""
        click.echo(f"interrupted{where}", err=True)
        raise SystemExit(130) from None
    training["seconds"] = round(time.perf_counter() - start, 1)
    _log_regions(det.selection_, quiet)
    parity = _save(record_kind(det, kind_facts), output, training, folder.images if onnx else None, quiet,
                   _screening(det, folder.files, golden))
    if checkpoint is not None:
        checkpoint.remove()
    click.echo(f"{_written(det, output, parity)}; fit took {elapsed(start)}", err=True)


def _log_regions(selection: dict[str, Any], quiet: bool) -> None:
    """The share of large-region defects a local fit chose (``--local-regions`` unset), in one line."""
    if selection.get("local_regions"):
        from inspect_svdd.deploy.info import regions_choice

        log("large regions: " + regions_choice(selection["local_regions"]), quiet)


def _with_pretrained(det: Any, pretrained: Path | None, training: dict[str, Any]) -> Any:
    """``det`` with the autoencoder of ``pretrain`` loaded (recorded in ``training``), or as it was."""
    if pretrained is not None:
        from inspect_svdd.model.artifact import load_pretrained

        det.autoencoder_, ae_record = load_pretrained(pretrained, det.config)
        det.history_ = list(ae_record.get("history", []))
        training["pretrained"] = str(pretrained)
    return det


def _check_both(resume: bool, pretrained: Path | None) -> None:
    """``--model-kind both`` fits both kinds from scratch in one go: the options of one kind's fit do not apply.

    ``--defects`` is refused by :func:`~inspect_svdd.model.local.fit_either_kind` itself (recipes reach it too).
    """
    from inspect_svdd.errors import ConfigError

    for flag, given in (("--resume", resume), ("--pretrained", pretrained is not None)):
        if given:
            raise ConfigError(f"{flag} is for one model kind's fit; --model-kind both fits the global and the local "
                              "model from scratch (choose one kind to use it)")


def _extra_parts(folder_path: Path | None, golden: Any, training: dict[str, Any], kind: str, quiet: bool) -> Any:
    """Real defective parts to push away (``defects``) or to judge the scorers on (``validation``), recorded."""
    if folder_path is None:
        return None
    from inspect_svdd.io.datasets import load_defects
    from inspect_svdd.model.artifact import files_digest

    found = load_defects(folder_path, golden, on_skip=_skip, skip_good=kind == "validation")
    training[kind] = {"folder": str(folder_path), "count": len(found.files),
                      "files_sha256": files_digest(found.files, folder_path)}
    use = "pushed away from the centre" if kind == "defects" else "to judge the scorers on"
    log(f"{len(found.files)} defective parts from {folder_path} {use}", quiet)
    return found.images


def _checkpoint(output: Path, cfg: FitConfig, pretrained: Path | None, images: Any, bad: Any, resume: bool,
                quiet: bool) -> Any:
    """The fit's checkpoint, keyed by everything that makes it this fit (another autoencoder is another fit)."""
    from inspect_svdd.layout import AE_WEIGHTS, CHECKPOINT_FILE
    from inspect_svdd.model.checkpoint import Checkpoint, fit_key
    from inspect_svdd.model.local import CHECKPOINT_EVERY

    ae_key = {"pretrained": hashlib.sha256((pretrained / AE_WEIGHTS).read_bytes()).hexdigest()
              if pretrained is not None else None}
    every = {"every": CHECKPOINT_EVERY} if cfg.is_local else {}  # the local model counts steps, not epochs
    checkpoint = Checkpoint(output / CHECKPOINT_FILE, fit_key(cfg.to_dict() | ae_key, images, bad), resume, **every)
    if checkpoint.saved is not None:
        unit = "step" if str(checkpoint.saved["stage"]).startswith("local") else "epoch"
        log(f"resuming from {checkpoint.path}: {checkpoint.saved['stage']} {unit} {checkpoint.saved['epoch']}", quiet)
    elif resume:
        log(f"no checkpoint in {output}; fitting from the start", quiet)
    elif checkpoint.path.is_file():
        log(f"note: {checkpoint.path} of an earlier, interrupted fit is replaced (--resume continues it)", quiet)
    return checkpoint


def _screening(det: Any, files: list[Path], golden: Path) -> dict[str, Any]:
    """The screening record with file names (relative to GOLDEN), and its stderr lines (always shown: a warning)."""
    from inspect_svdd.model.screening import with_names

    names = [str(Path(f).relative_to(golden)) if Path(f).is_relative_to(golden) else str(f) for f in files]
    named = with_names(det.screening_, names) if det.screening_ else {}
    listed = ", ".join(f"{s['file']} ({s['relative']:.1f}x)" for s in named.get("suspects", [])[:10])
    more = f" and {len(named['suspects']) - 10} more" if len(named.get("suspects", [])) > 10 else ""
    if named.get("dropped"):
        dropped = ", ".join(s["file"] for s in named["dropped"])
        click.echo(f"dropped {len(named['dropped'])} suspect golden image(s) and refitted without them: {dropped}", err=True)
    if listed:
        hint = "" if det.config.train.drop_suspects else "; check them, or --drop-suspects refits without them"
        click.echo(f"suspect golden images, far outside the rest (statistic in units of the screening threshold): "
                   f"{listed}{more}{hint}", err=True)
    return named


def _save(det: Any, output: Path, training: dict[str, Any], images: Any, quiet: bool,
          screening: dict[str, Any] | None = None) -> float | None:
    """Write the model folder (all files or none), say what fit chose; the ONNX parity (None without ONNX)."""
    from inspect_svdd.deploy.export import write_model

    check = images[: min(len(images), 64)] if images is not None else None
    _, parity = write_model(det, output, training, extra={"screening": screening} if screening else None,
                            check_images=check)
    if det.expanded_from_ is not None:
        log(f"note: only {det.expanded_from_} golden image(s); grown to {det.holdout_['count'] + det.holdout_['train_count']} "
            f"with augmentation '{det.config.train.augment}', so the radius is set on augmented views", quiet)
    if det.selection_.get("model_kind", {}).get("candidates"):  # --model-kind both: judged after both fits
        log(kind_line(det.selection_["model_kind"]), quiet)
    if det.selection_.get("candidates"):
        log(selection_line(det.selection_), quiet)
    return parity


def _written(det: Any, output: Path, parity: float | None) -> str:
    from inspect_svdd.layout import ONNX_FILE

    message = f"model written to {output}: radius {det.radius_:.4g}, held-out false-reject rate " \
              f"{det.holdout_['false_reject_rate']:.1%} ({det.holdout_['count']} images)"
    return message + (f"; {ONNX_FILE} parity {parity:.1e}" if parity is not None else "")
