"""``evaluate``: a model's metrics on a labelled folder (MVTec AD layout)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from inspect_svdd.cli.common import HEATMAP_HELP, HEATMAP_METHODS, handle_errors, log, main
from inspect_svdd.deploy.backends import BACKENDS, open_backend
from inspect_svdd.errors import DatasetError, ExitCode

if TYPE_CHECKING:
    from inspect_svdd.deploy.scoring import Row
    from inspect_svdd.evaluate.heatmaps import HeatMapper


def labelled_root(folder: Path) -> Path:
    """Where the label folders are: ``folder/test`` for a dataset root in the MVTec AD layout, else ``folder``."""
    return folder / "test" if (folder / "test").is_dir() else folder


def labelled_files(folder: Path, need_both: bool = True) -> list[tuple[Path, str]]:
    """``(file, label)`` for every image of an MVTec-style folder: ``good/`` and one folder per defect type.

    A dataset root with a ``test/`` folder is read from ``test/``. With
    ``need_both`` False (calibrating for a false-reject rate), images directly
    in the folder count as good and no defect folder is needed.

    Raises:
        DatasetError: an image outside a label folder, or no good or no defect images.
    """
    from inspect_svdd.io.images import list_images

    root = labelled_root(folder)
    for sub in sorted(root.iterdir()) if root.is_dir() else ():
        if sub.is_dir() and not sub.name.startswith(".") and not _has_image(sub):
            raise DatasetError(f"{sub}: label folder holds no images; add its images or remove the folder")
    files = []
    for path in list_images(root):
        parts = path.relative_to(root).parts
        if len(parts) < 2 and not need_both:
            files.append((path, "good"))
            continue
        if len(parts) < 2:
            raise DatasetError(f"{path}: a labelled image must sit in good/ or in a folder named after its defect type")
        files.append((path, parts[0]))
    labels = {label for _, label in files}
    if need_both and ("good" not in labels or labels == {"good"}):
        missing = "good/" if "good" not in labels else "defect folder (one per defect type)"
        raise DatasetError(f"{root}: no {missing}; evaluation needs good/ and at least one defect folder "
                           "(to set the radius from good images alone: calibrate --target-frr)")
    return files


def _has_image(folder: Path) -> bool:
    from inspect_svdd.io.images import IMAGE_EXTENSIONS

    return any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.rglob("*") if p.is_file())


@main.command()
@click.argument("labeled", type=click.Path(path_type=Path))
@click.option("-m", "--model", type=click.Path(path_type=Path), default=Path("model"), show_default=True,
              help="Model directory (or its .onnx file).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("evaluation"), show_default=True,
              help="Folder for metrics.json, scores.csv and report.html.")
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
              help="auto: ONNX Runtime when the model has model.onnx, else PyTorch.")
@click.option("--heatmap-method", type=click.Choice(HEATMAP_METHODS), default="auto", show_default=True,
              help="Heat maps of the failures (and localisation against ground_truth/ masks when present): " + HEATMAP_HELP)
@click.option("--no-heatmaps", is_flag=True, help="Skip heat maps and localisation.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or log lines; the summary still prints.")
@handle_errors
def evaluate(labeled: Path, model: Path, output: Path, backend: str, heatmap_method: str, no_heatmaps: bool,
             quiet: bool) -> None:
    """Score LABELED (good/ and one folder per defect type) and write its metrics: AUROC, AUPR, F1-max, rates at R.

    Writes OUTPUT/metrics.json, OUTPUT/scores.csv, OUTPUT/report.html and the
    heat maps of the failed images under OUTPUT/heatmaps/. Where the folder
    has MVTec ground-truth masks (ground_truth/<type>/<name>_mask.png beside
    it), the heat maps' localisation is measured too.
    """
    import numpy as np

    from inspect_svdd.evaluate.metrics import evaluation
    from inspect_svdd.evaluate.report import Scored, rate_text, write_report
    from inspect_svdd.layout import MODEL_JSON, read_json

    files = labelled_files(labeled)
    label_of = {str(path): label for path, label in files}
    scorer = open_backend(model, backend, "auto", None)
    output.mkdir(parents=True, exist_ok=True)
    log(f"evaluating {model} on {len(files)} labelled images from {labeled}", quiet)
    rows = _score_labelled(files, label_of, scorer, output / "scores.csv")
    ok = [r for r in rows if r.score is not None]
    scored = Scored([r.path for r in ok], [label_of[r.path] for r in ok], np.array([r.score for r in ok]))
    result = evaluation(scored.groups, scored.scores)
    result |= {"model": str(model), "backend": scorer.name, "radius": scorer.radius, "labelled": str(labeled),
               "unreadable": [{"path": r.path, "problem": r.error} for r in rows if r.score is None]}
    heatmaps: dict[str, Path] = {}
    if not no_heatmaps:
        from inspect_svdd.evaluate.heatmaps import HeatMapper

        heatmaps, local = _heatmaps(HeatMapper(scorer, heatmap_method), ok, labeled, output / "heatmaps", quiet)
        if local:
            result["localisation"] = local
    (output / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    record = read_json(model, MODEL_JSON, "model") if (model / MODEL_JSON).is_file() else None
    write_report(output / "report.html", f"{model.name} on {labeled.name}", scored, result, record, heatmaps)
    click.echo(f"AUROC {result['auroc']:.4f}, AUPR {result['aupr']:.4f}, F1-max {result['f1_max']:.3f}; at the radius: "
               f"{rate_text(result['false_reject_rate'], result['good'])} good parts rejected, "
               f"{rate_text(result['escape_rate'], result['defects'])} defects passed; written to {output}", err=True)
    sys.exit(int(ExitCode.UNREADABLE if result["unreadable"] else ExitCode.PASS))


def _score_labelled(files: list[tuple[Path, str]], label_of: dict[str, str], scorer: Any, csv_path: Path) -> list[Row]:
    """Score every labelled image, writing scores.csv (with the label) as it goes."""
    from inspect_svdd.deploy.results import CsvWriter
    from inspect_svdd.deploy.scoring import score_files

    rows: list[Row] = []
    with open(csv_path, "w", newline="", encoding="utf-8") as stream:
        writer = CsvWriter(stream, extra=("label",))

        def on_row(row: Row) -> None:
            writer.write(row, label_of[row.path])
            rows.append(row)

        score_files([path for path, _ in files], scorer, on_row)
    return rows


def _heatmaps(mapper: HeatMapper, rows: list[Row], labeled: Path, out_dir: Path,
              quiet: bool) -> tuple[dict[str, Path], dict[str, Any] | None]:
    """Overlays of the failed images, and localisation against ground-truth masks where the folder has them."""
    import numpy as np

    from inspect_svdd.evaluate.heatmaps import localisation, mask_for, save_overlay, target_for
    from inspect_svdd.io.images import decode_image

    root = labelled_root(labeled)
    masks = {r.path: mask_for(Path(r.path), labeled) for r in rows if Path(r.path).relative_to(root).parts[0] != "good"}
    measure = any(masks.values())

    def wanted(row: Row) -> bool:  # failures for the gallery; good parts and masked defects for localisation
        return row.verdict == "fail" or (measure and (row.path not in masks or masks[row.path] is not None))

    todo = [r for r in rows if wanted(r)]
    log(f"heat maps ({mapper.method}) of {len(todo)} images", quiet)
    written: dict[str, Path] = {}
    heats, truths, kinds = [], [], []
    for row in todo:
        image, heat = mapper.of_file(row.path)
        if row.verdict == "fail":
            written[row.path] = save_overlay(image, heat, target_for(Path(row.path), root, out_dir))
        if measure:
            mask_path = masks.get(row.path)
            truth = decode_image(mask_path)[..., 0] > 127 if mask_path else np.zeros(heat.shape, bool)
            if truth.shape != heat.shape:
                raise DatasetError(f"{mask_path}: mask is {truth.shape[1]}x{truth.shape[0]} but its image is "
                                   f"{heat.shape[1]}x{heat.shape[0]}")
            heats.append(heat)
            truths.append(truth)
            kinds.append(Path(row.path).relative_to(root).parts[0])
    local = {"method": mapper.method, **localisation(heats, truths, kinds)} if measure else None
    return written, local


@main.command()
@click.argument("labeled", type=click.Path(path_type=Path))
@click.option("-m", "--model", type=click.Path(path_type=Path), default=Path("model"), show_default=True,
              help="Model directory; its model.json and model.onnx get the new radius.")
@click.option("--target-frr", type=click.FloatRange(0, 1, max_open=True), help="False-reject rate wanted (good images only).")
@click.option("--max-escape", type=click.FloatRange(0, 1, max_open=True), help="Largest share of defects allowed to pass.")
@click.option("--f1", "best_f1", is_flag=True, help="The radius of the best F1 (needs good and defective images).")
@handle_errors
def calibrate(labeled: Path, model: Path, target_frr: float | None, max_escape: float | None, best_f1: bool) -> None:
    """Set MODEL's radius from the labelled images in LABELED; rewrites model.json and model.onnx."""
    import numpy as np

    from inspect_svdd.deploy.export import write_model
    from inspect_svdd.deploy.scoring import score_files
    from inspect_svdd.deploy.torch_backend import TorchBackend
    from inspect_svdd.evaluate.calibrate import calibrated_radius, rates
    from inspect_svdd.io.preprocess import load_image
    from inspect_svdd.layout import ONNX_FILE
    from inspect_svdd.model.artifact import load_model

    chosen = [(name, v) for name, v in (("target-frr", target_frr), ("max-escape", max_escape),
                                        ("f1", 1.0 if best_f1 else None)) if v is not None]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --target-frr, --max-escape, --f1")
    how, value = chosen[0]
    files = labelled_files(labeled, need_both=False)  # calibrated_radius says what each way needs
    label_of = {str(path): label for path, label in files}
    det, record = load_model(model)
    rows: list[Row] = []
    score_files([p for p, _ in files], TorchBackend(det), rows.append)
    scored = [r for r in rows if r.distance is not None]
    distances = np.array([r.distance for r in scored])
    anomalous = np.array([label_of[r.path] != "good" for r in scored])
    before = rates(distances, anomalous, det._fitted()[2])
    radius, facts = calibrated_radius(distances, anomalous, how, value, det.config.train.radius_rule)
    after = rates(distances, anomalous, radius)
    det.radius_ = radius
    calibration = {"how": facts, "folder": str(labeled.resolve()), "images": len(scored),
                   "good": int((~anomalous).sum()), "defects": int(anomalous.sum()),
                   "radius_before": record["radius"], "radius_after": radius, "before": before, "after": after}
    check = np.stack([load_image(p, det.config.preprocess) for p in [Path(r.path) for r in scored][:64]])
    write_model(det, model, record.get("training"), {"calibration": calibration}, check)  # all files or none

    def show(r: dict[str, float | None]) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {v:.1%}" for k, v in r.items() if v is not None)

    click.echo(f"radius {record['radius']:.4g} -> {radius:.4g} ({how}); before: {show(before)}; after: {show(after)}; "
               f"{model / 'model.json'} and {model / ONNX_FILE} rewritten", err=True)
