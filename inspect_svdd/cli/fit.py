"""``fit`` and ``pretrain``: golden folder -> model directory.

Options map one to one onto :mod:`inspect_svdd.config` fields; their defaults
are read from the dataclasses, so they live in one place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from inspect_svdd.cli.common import elapsed, handle_errors, log, main, parse_milestones, parse_roi
from inspect_svdd.config import (
    DEFECT_PRESETS,
    RESNET18_WIDTHS,
    SCORE_RULES,
    FitConfig,
    NetConfig,
    PreprocessConfig,
    ScoreConfig,
    TrainConfig,
    read_yaml,
)
from inspect_svdd.errors import ConfigError, InspectError, first_line

P, N, T, S = PreprocessConfig(), NetConfig(), TrainConfig(), ScoreConfig()


def fit_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by ``fit`` and ``pretrain``."""
    options = [
        click.option("--image-size", default=P.image_size, show_default=True,
                     help="Network input side (pixels); the tile side with --frame-size."),
        click.option("--frame-size", type=int, default=P.frame_size,
                     help="Tiling: resize each image to this square frame, score its image-size tiles, worst tile wins."),
        click.option("--channels", type=click.Choice(["auto", "1", "3"]), default="auto", show_default=True,
                     help="1 = gray, 3 = RGB; auto: gray if every golden image is gray."),
        click.option("--roi", callback=parse_roi, metavar="X,Y,W,H", help="Crop box applied before the resize."),
        click.option("--resize", type=click.Choice(["area", "linear", "nearest"]), default=P.resize, show_default=True),
        click.option("--decode", type=click.Choice(["full", "reduced"]), default=P.decode, show_default=True,
                     help="reduced: JPEGs 2/4/8x the input size decoded at 1/2, 1/4, 1/8 scale (faster; not with --roi)."),
        click.option("--architecture", type=click.Choice(["strided", "pooled", "resnet18"]), default=N.architecture,
                     show_default=True, help="strided: 3x3 stride-2 convs (fast); pooled: 5x5 convs + max-pool; "
                     "resnet18: ResNet-18 from scratch, bias-free (needs torchvision)."),
        click.option("--rep-dim", default=N.rep_dim, show_default=True, help="Embedding size."),
        click.option("--ae-epochs", default=T.ae_epochs, show_default=True, help="Autoencoder pretraining epochs."),
        click.option("--epochs", default=T.epochs, show_default=True, help="Deep SVDD epochs."),
        click.option("--ae-min-steps", default=T.ae_min_steps, show_default=True,
                     help="Fewest pretraining steps: with few golden images the epochs are raised to reach them."),
        click.option("--min-steps", default=T.min_steps, show_default=True,
                     help="Fewest Deep SVDD steps: with few golden images the epochs are raised to reach them."),
        click.option("--batch-size", default=T.batch_size, show_default=True),
        click.option("--ae-lr", default=T.ae_lr, show_default=True),
        click.option("--lr", default=T.lr, show_default=True),
        click.option("--ae-weight-decay", default=T.ae_weight_decay, show_default=True),
        click.option("--weight-decay", default=T.weight_decay, show_default=True),
        click.option("--lr-milestones", default=",".join(map(str, T.lr_milestones)), show_default=True,
                     callback=parse_milestones, help="Epochs where the learning rate drops 10x ('' for none)."),
        click.option("--objective", type=click.Choice(["one-class", "soft-boundary"]), default=T.objective, show_default=True),
        click.option("--nu", default=T.nu, show_default=True, help="Soft-boundary outlier fraction."),
        click.option("--eps", default=T.eps, show_default=True, help="Centre coordinates are kept at least this far from 0."),
        click.option("--target-frr", default=T.target_frr, show_default=True,
                     help="False-reject rate the radius is set for, on held-out golden images."),
        click.option("--holdout", default=T.holdout, show_default=True, help="Share of golden images held out for the radius."),
        click.option("--radius-rule", type=click.Choice(["quantile", "lognormal"]), default=T.radius_rule, show_default=True,
                     help="Radius from the held-out scores: their quantile, or a log-normal fitted to them (margin)."),
        click.option("--radius-confidence", default=T.radius_confidence, show_default=True,
                     help="Log-normal radius: confidence that the target rate holds on new good parts "
                          "(an upper tolerance bound; 0.5: the plain estimate)."),
        click.option("--radius-views", default=T.radius_views, show_default=True,
                     help="Augmented views of each held-out image also scored to set the radius."),
        click.option("--score", "score_rule", type=click.Choice(["auto", *SCORE_RULES]), default=S.rule, show_default=True,
                     help="Scoring rule: auto (fit judges every rule and feature kind, and fusions of the best, on "
                          "held-out golden images plus synthetic defects, and keeps the best), distance to the centre, "
                          "Mahalanobis (Ledoit-Wolf), or k-NN to golden embeddings."),
        click.option("--k", default=S.k, show_default=True, help="Neighbours for --score knn."),
        click.option("--features", type=click.Choice(["auto", "embedding", "stages", "both"]), default=S.features,
                     show_default=True,
                     help="What k-NN and Mahalanobis compare: the embedding, every stage's pooled output, or both "
                          "(given without --score: k-NN on them, no selection)."),
        click.option("--bank-views", default=S.bank_views, show_default=True,
                     help="Augmented views of each training image added to the golden embeddings the rule is fitted on."),
        click.option("--anomalies", type=click.Choice(["none", *DEFECT_PRESETS]), default=T.anomalies, show_default=True,
                     help="Synthetic defects made from golden images and pushed away from the centre (Deep SAD)."),
        click.option("--anomaly-ratio", default=T.anomaly_ratio, show_default=True,
                     help="Share of training views turned into synthetic defects."),
        click.option("--eta", default=T.eta, show_default=True, help="Weight of the Deep SAD anomaly term."),
        click.option("--recon-weight", default=T.recon_weight, show_default=True,
                     help="Hybrid objective: weight of the reconstruction error added to the Deep SVDD loss."),
        click.option("--rotation-weight", default=T.rotation_weight, show_default=True,
                     help="Self-supervised auxiliary task: weight of predicting each view's turn (0/90/180/270)."),
        click.option("--augment", default=T.augment, show_default=True,
                     help="Preset (none, photometric, jitter) or an albumentations .json/.yaml file."),
        click.option("--augment-factor", default=T.augment_factor, show_default=True,
                     help="Augmented views of each golden image per epoch."),
        click.option("--seed", default=T.seed, show_default=True),
        click.option("--config", "config_file", type=click.Path(path_type=Path),
                     help="YAML file with preprocess/net/train/score sections (every config field); "
                          "options given on the command line override it."),
        click.option("-q", "--quiet", is_flag=True, help="No progress or log lines."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


SECTION_OF = {"image_size": "preprocess", "frame_size": "preprocess", "roi": "preprocess", "resize": "preprocess",
              "decode": "preprocess",
              "architecture": "net", "rep_dim": "net", "score_rule": "score", "k": "score", "features": "score",
              "bank_views": "score"}  # every other fit option is a train field of the same name


def build_config(kw: dict[str, Any]) -> tuple[FitConfig, str]:
    """Map CLI keyword arguments, over a ``--config`` file when given, onto a FitConfig (channels resolved later).

    The options are merged as plain values first and validated once, so a
    setting that is only valid together with the file's (``--frame-size 192``
    with the file's ``image_size: 64``) is not refused on its own.
    """
    mine, channels = _options_dict(kw), kw["channels"]
    if kw.get("config_file") is None:
        return FitConfig.from_dict(mine), channels
    ctx = click.get_current_context()
    given = {name for name in kw if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    from_file, raw = _read_config(kw["config_file"])
    merged = from_file.to_dict()
    if "channels" not in given and "channels" in (raw.get("preprocess") or {}):
        channels = str(from_file.preprocess.channels)  # the file's choice instead of auto-detection
    for name in given - {"channels", "quiet", "config_file"}:
        section = SECTION_OF.get(name, "train")
        field = {"score_rule": "rule"}.get(name, name)
        merged[section][field] = mine[section][field]
        if name == "architecture":
            merged["net"]["widths"] = mine["net"]["widths"]
    return FitConfig.from_dict(merged), channels


def _read_config(path: Path) -> tuple[FitConfig, dict[str, Any]]:
    data = read_yaml(path, "the config file")
    if not isinstance(data, dict) or set(data) - {"preprocess", "net", "train", "score"}:
        raise ConfigError(f"{path}: a config file holds the sections preprocess, net, train and score only")
    try:
        return FitConfig.from_dict(data), data
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{path}: {first_line(exc)}") from None


TRAIN_OPTIONS = ("ae_epochs", "epochs", "ae_min_steps", "min_steps", "batch_size", "ae_lr", "lr", "ae_weight_decay",
                 "weight_decay", "lr_milestones", "objective", "nu", "eps", "target_frr", "holdout", "radius_rule",
                 "radius_confidence", "radius_views", "augment", "augment_factor", "anomalies", "anomaly_ratio", "eta",
                 "recon_weight", "rotation_weight", "seed")


def _options_dict(kw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The options as config sections of plain values (validated later, after any merge)."""
    widths = {"strided": N.widths, "resnet18": RESNET18_WIDTHS}.get(kw["architecture"], (32, 64, 128, 256, 256))
    return {
        "preprocess": {"image_size": kw["image_size"], "channels": 1, "roi": kw["roi"], "resize": kw["resize"],
                       "frame_size": kw["frame_size"], "decode": kw["decode"]},
        "net": {"architecture": kw["architecture"], "rep_dim": kw["rep_dim"], "widths": list(widths)},
        "train": {f: list(kw[f]) if isinstance(kw[f], tuple) else kw[f] for f in TRAIN_OPTIONS},
        "score": {"rule": kw["score_rule"], "k": kw["k"], "features": kw["features"], "bank_views": kw["bank_views"]},
    }


def selection_line(selection: dict[str, Any]) -> str:
    """One line on what fit chose and why (the full table is in model.json and `inspect-svdd info`)."""
    best = selection["candidates"][0]
    runner_up = selection["candidates"][1] if len(selection["candidates"]) > 1 else None
    judged = selection.get("judged_on", {})
    beat = f"; next {runner_up['candidate']} {runner_up['escape']:.1%}" if runner_up else ""
    return (f"scorer: {selection['chosen']} chosen among {len(selection['candidates'])} on {judged.get('held_out')} held-out "
            f"golden images and {judged.get('defects')} validation defects: {best['escape']:.1%} of the defects pass at "
            f"its radius{beat} (--score/--features fix one)")


def _skip(err: InspectError) -> None:
    click.echo(f"skipped: {err}", err=True)


def _load(golden: Path, cfg: FitConfig, channels: str, quiet: bool) -> tuple[Any, FitConfig, dict[str, Any]]:
    from inspect_svdd.io.datasets import load_folder
    from inspect_svdd.model.artifact import files_digest

    folder = load_folder(golden, cfg.preprocess, channels, on_skip=_skip)
    cfg = dataclasses.replace(cfg, preprocess=folder.preprocess)
    p = cfg.preprocess
    tiling = f" in {p.tiles} tiles of {p.image_size}x{p.image_size}" if p.tiles > 1 else ""
    log(f"{len(folder.files)} golden images from {golden} ({len(folder.skipped)} skipped), "
        f"{p.channels} channel(s), {p.input_size}x{p.input_size}{tiling}", quiet)
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
@fit_options
@handle_errors
def pretrain(golden: Path, output: Path, **kw: Any) -> None:
    """Pretrain the autoencoder on GOLDEN (use it later with fit --pretrained)."""
    from inspect_svdd.model.artifact import save_pretrained
    from inspect_svdd.model.detector import DeepSVDD

    start = time.perf_counter()
    cfg, channels = build_config(kw)
    folder, cfg, training = _load(golden, cfg, channels, kw["quiet"])
    det = DeepSVDD(cfg).pretrain(folder.images, progress=not kw["quiet"])
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
                   "candidate scorers on instead of synthetic defects; never trained on.")
@click.option("--resume", is_flag=True,
              help="Continue the interrupted fit whose checkpoint is in OUTPUT (same golden images and settings).")
@fit_options
@handle_errors
def fit(golden: Path, output: Path, pretrained: Path | None, onnx: bool, defects: Path | None, validate: Path | None,
        resume: bool, **kw: Any) -> None:
    """Learn a Deep SVDD model from the good images under GOLDEN."""
    from inspect_svdd.io.datasets import load_defects
    from inspect_svdd.layout import AE_WEIGHTS, CHECKPOINT_FILE, ONNX_FILE
    from inspect_svdd.model.artifact import files_digest, load_pretrained
    from inspect_svdd.model.checkpoint import Checkpoint, fit_key
    from inspect_svdd.model.detector import DeepSVDD

    start = time.perf_counter()
    quiet = kw["quiet"]
    cfg, channels = build_config(kw)
    if pretrained is not None and channels == "auto":
        from inspect_svdd.layout import AE_JSON, read_json

        channels = str(read_json(pretrained, AE_JSON, "autoencoder")["config"]["preprocess"]["channels"])
    folder, cfg, training = _load(golden, cfg, channels, quiet)
    images, bad = folder.images, None
    if defects is not None:
        found = load_defects(defects, folder, on_skip=_skip)
        bad = found.images
        training["defects"] = {"folder": str(defects), "count": len(found.files),
                               "files_sha256": files_digest(found.files, defects)}
        log(f"{len(found.files)} defective parts from {defects} pushed away from the centre", quiet)
    validation = None
    if validate is not None:
        judged = load_defects(validate, folder, on_skip=_skip, skip_good=True)
        validation = judged.images
        training["validation"] = {"folder": str(validate), "count": len(judged.files),
                                  "files_sha256": files_digest(judged.files, validate)}
        log(f"{len(judged.files)} real defective parts from {validate} to judge the scorers on", quiet)
    det = DeepSVDD(cfg)
    if pretrained is not None:
        det.autoencoder_, ae_record = load_pretrained(pretrained, cfg)
        det.history_ = list(ae_record.get("history", []))
        training["pretrained"] = str(pretrained)
    ae_key = {"pretrained": hashlib.sha256((pretrained / AE_WEIGHTS).read_bytes()).hexdigest()
              if pretrained is not None else None}  # another autoencoder is another fit: never resumed into
    checkpoint = Checkpoint(output / CHECKPOINT_FILE, fit_key(cfg.to_dict() | ae_key, images, bad), resume)
    if checkpoint.saved is not None:
        log(f"resuming from {checkpoint.path}: {checkpoint.saved['stage']} epoch {checkpoint.saved['epoch']}", quiet)
    elif resume:
        log(f"no checkpoint in {output}; fitting from the start", quiet)
    elif checkpoint.path.is_file():
        log(f"note: {checkpoint.path} of an earlier, interrupted fit is replaced (--resume continues it)", quiet)
    try:
        det.fit(images, progress=not quiet, defects=bad, checkpoint=checkpoint, validation=validation)
    except KeyboardInterrupt:
        where = f"; `inspect-svdd fit {golden} -o {output} --resume` (same options) continues it" \
            if checkpoint.path.is_file() else ""
        click.echo(f"interrupted{where}", err=True)
        raise SystemExit(130) from None
    training["seconds"] = round(time.perf_counter() - start, 1)
    from inspect_svdd.deploy.export import write_model

    check = images[: min(len(images), 64)] if onnx else None
    _, err = write_model(det, output, training, check_images=check)  # all files or none
    checkpoint.remove()
    if det.expanded_from_ is not None:
        log(f"note: only {det.expanded_from_} golden image(s); grown to {det.holdout_['count'] + det.holdout_['train_count']} "
            f"with augmentation '{cfg.train.augment}', so the radius is set on augmented views", quiet)
    if det.selection_.get("candidates"):
        log(selection_line(det.selection_), quiet)
    message = f"model written to {output}: radius {det.radius_:.4g}, held-out false-reject rate " \
              f"{det.holdout_['false_reject_rate']:.1%} ({det.holdout_['count']} images)"
    if err is not None:
        message += f"; {ONNX_FILE} parity {err:.1e}"
    click.echo(f"{message}; fit took {elapsed(start)}", err=True)
