"""What a model directory holds, in words: data, settings, radius, held-out figures, time, versions, pairing.

torch-free (json and ONNX Runtime only), so ``inspect-svdd info`` works with the runtime install.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inspect_svdd.config import LOCAL_DEFECTS, input_label, level_batch
from inspect_svdd.errors import ModelError
from inspect_svdd.layout import MODEL_JSON, ONNX_FILE, read_json


def _onnx_state(directory: Path) -> str:
    from inspect_svdd.deploy.runtime import OnnxScorer, check_pair

    path = directory / ONNX_FILE
    if not path.is_file():
        return f"no {ONNX_FILE} (score uses PyTorch; `inspect-svdd export {directory}` writes it)"
    try:
        check_pair(directory, OnnxScorer(path, device="cpu", threads=1))
    except ModelError as exc:
        return f"MISMATCH: {exc}"
    return f"{ONNX_FILE} belongs to {MODEL_JSON} (same weights, centre and radius)"


def _calibration(data: dict[str, Any]) -> str:
    cal = data.get("calibration")
    if not cal:
        return ""
    return (f"; calibrated with {cal['how'].get('rule')} on {cal['images']} images of {cal['folder']} "
            f"(radius before {cal['radius_before']:.4g})")


def _length(train: dict[str, Any], schedule: dict[str, Any]) -> str:
    """Epochs as configured, or as run when the minimum step counts raised them."""
    if not schedule:
        return f"{train.get('ae_epochs')} + {train.get('epochs')} epochs"
    pre, svdd = schedule.get("pretrain", {}), schedule.get("svdd", {})
    return (f"{pre.get('epochs', train.get('ae_epochs'))} + {svdd.get('epochs')} epochs "
            f"({pre.get('steps', 0)} + {svdd.get('steps')} optimisation steps)")


def _scoring(score: dict[str, Any], features: str, selection: dict[str, Any]) -> str:
    """The scorer, and when fit chose it, the candidates it judged (validation escape at each one's radius)."""
    rule = score.get("rule")
    text = f"fusion of {', '.join(score.get('members', []))}" if rule == "fusion" else f"{rule} on the {features}"
    if rule == "knn":
        text += f", k={score.get('k')}"
    if not selection.get("candidates"):
        return text
    return f"{text}, chosen by fit {_judged(selection, 'candidate')}"


def _judged(choice: dict[str, Any], what: str) -> str:
    """On what fit judged its candidates (scorers or model kinds), and each one's validation escape."""
    judged = choice.get("judged_on", {})
    table = "; ".join(f"{r['candidate']} {r['escape']:.1%}" for r in choice.get("candidates", []))
    return (f"on {judged.get('held_out')} held-out golden images and {judged.get('defects')} validation defects "
            f"({', '.join(judged.get('families', []))}); defects passing at each {what}'s radius: {table}")


def decided_before_training(choice: Mapping[str, Any]) -> bool:
    """True for a ``--model-kind auto`` decision (layout or an option); False for ``both``'s judgement of two fits."""
    return choice.get("decided_by") in ("layout", "options")


def kind_decision(choice: Mapping[str, Any]) -> str:
    """How ``--model-kind auto`` decided before training: from the golden images' layout, or from an option."""
    if choice.get("decided_by") == "options":
        return f"{choice['chosen']}, as an option asks ({choice.get('reason')})"
    placed = "do not register onto each other (a texture" if choice["chosen"] == "local" else "register (a placed part"
    return (f"{choice['chosen']}, decided by fit before training: the golden images {placed}; median "
            f"phase-correlation peak {choice.get('median_peak')}, texture below {choice.get('texture_below')}); "
            "--model-kind global|local|both overrides")


def _kind_choice(choice: dict[str, Any]) -> str:
    """What fit's kind choice rested on: ``auto``'s layout, or ``both``'s validation escape at each kind's radius."""
    if decided_before_training(choice):
        return kind_decision(choice)
    pauroc = "; ".join(f"{r['candidate']} {r['pauroc_10']:.3f}" for r in choice.get("candidates", []))
    return (f"{choice.get('chosen')}, chosen by fit (--model-kind both) {_judged(choice, 'kind')}; partial AUROC "
            f"(FPR <= 0.1): {pauroc}; rank: {choice.get('rank')}")


_REFERENCES = {"centre": "against the centre c", "position": "against the golden cells at the same place"}
_INPUTS = {"golden": "by the golden images' mean and std", "image": "per image (its own mean and std)"}
_LOSSES = {"sad": "Deep SAD (d² in, 1/d² out)", "fcdd": "FCDD's hypersphere classifier"}


def _scales_text(scales: int, batch: Any) -> str:
    """The levels of a local model's map: one input, or the input and the input halved (each with its own network)."""
    if scales == 1:
        return ""
    return (f"maps of the input and of the input halved averaged (two networks; the full input trained on "
            f"{level_batch(int(batch or 16), scales, 0)} images per step), ")


def training_text(data: dict[str, Any], train: dict[str, Any], local: dict[str, Any]) -> str:
    """How long and on what the model trained (the local model: steps of its map network)."""
    if local.get("model_kind") == "local":
        steps = (data.get("schedule") or {}).get("local", {}).get("steps", local.get("local_steps"))
        families = ", ".join(local.get("local_defects") or LOCAL_DEFECTS[:3])  # a model saved before the setting: those
        if local.get("local_regions"):
            families += f"; {local['local_regions']:.0%} of them large regions of another golden image"
        choice = (data.get("selection") or {}).get("local_regions")
        if choice:
            families += f"; {regions_choice(choice)}"
        length = (f"local map model: {steps} optimisation steps of {local.get('local_batch')} images (half with "
                  f"synthetic defects: {families}), width {local.get('local_width')}, {local.get('local_dim')}-d cells, "
                  f"{local.get('local_context', 0)} dilated context block(s), "
                  f"{_scales_text(local.get('local_scales', 1), local.get('local_batch'))}"
                  f"input standardised {_INPUTS.get(local.get('local_input', 'golden'), '?')}, "
                  f"loss {_LOSSES.get(local.get('local_loss', 'sad'), '?')}")
    else:
        length = (f"{_length(train, data.get('schedule') or {})}, anomalies {train.get('anomalies')}, recon weight "
                  f"{train.get('recon_weight', 0.0)}, rotation weight {train.get('rotation_weight', 0.0)}")
    return f"{length}, augment {train.get('augment')}, seed {data.get('seed')}"


def regions_choice(choice: Mapping[str, Any]) -> str:
    """How fit chose the share of large-region defects (``--local-regions`` unset): each map's AUROC on what it judged."""
    judged = choice.get("judged_on", {})
    table = "; ".join(f"{r['candidate']} {r['auroc']:.3f}" for r in choice.get("candidates", []))
    families, real = ", ".join(f for f in judged.get("families", []) if f != "real"), judged.get("real", 0)
    defects = (f"{judged.get('defects')} synthetic defects ({families})" if not real else
               f"{judged.get('defects')} defects ({judged.get('defects', 0) - real} synthetic: {families}; {real} real "
               "parts from --validate)")
    return (f"share {choice.get('chosen'):g} chosen by fit among {len(choice.get('candidates', []))} maps on "
            f"{judged.get('held_out')} held-out golden images and {defects}, AUROC {table} (--local-regions fixes one)")


def scorer_text(data: dict[str, Any], score: dict[str, Any], local: dict[str, Any]) -> str:
    """What the model scores with: the local map's largest cell, or the global rule on its features."""
    if local.get("model_kind") == "local":
        against = _REFERENCES.get(local.get("map_reference", "centre"), "?")  # a model saved before the setting: c
        if local.get("map_pixels"):
            against += ", on their features and their mean pixels"
        return (f"the largest cell of the anomaly map (4x4-pixel cells {against}, smoothed over {local.get('map_smoothing')}, "
                f"calibration {local.get('map_calibration')}); the map is an output of model.onnx")
    features = "embedding" if score.get("rule") in ("center", "fusion") else score.get("features", "embedding")
    return _scoring(score, features, data.get("selection") or {})


def _screening(record: dict[str, Any]) -> str:
    """The golden-set screening: suspects, what was dropped, the most and least typical golden images."""
    if not record:
        return "not screened (a model from before screening, or a local model)"
    if "threshold" not in record:
        return str(record.get("rule", "off"))

    def files(key: str) -> str:
        return ", ".join(f"{e['file']} ({e['relative']:.2f}x)" if e.get("relative") is not None else e["file"]
                         for e in record.get(key, [])) or "none"

    dropped = f"; dropped before the refit: {files('dropped')}" if record.get("dropped") else ""
    return (f"{len(record.get('suspects', []))} suspect(s) ({record['rule']}, threshold {record['threshold']:.4g}): "
            f"{files('suspects')}{dropped}; most typical: {files('most_typical')}; least typical: {files('least_typical')}")


def registration_text(facts: dict[str, Any]) -> str:
    """Whether inputs are shifted onto the golden reference, within which limits, and why fit decided so."""
    if not facts:
        return "off (a model from before registration)"
    why = (f"golden median correlation peak {facts['median_peak']}, 99 in 100 offset by at most "
           f"{facts['offset_p99']} px") if "median_peak" in facts else ""
    if not facts.get("aligned"):
        return f"off (--align {facts.get('mode')}{'; ' + why if why else ''})"
    gain = facts.get("gain_limit", 0.0)
    exposure = f", exposure within {math.exp(gain) - 1:.0%}" if gain else ", exposure left alone"
    return (f"on (--align {facts.get('mode')}; {why}): offsets up to {facts['limit']} px corrected{exposure}; "
            "a part further off is scored where it is")


def describe(directory: str | Path) -> list[tuple[str, str]]:
    """``(label, text)`` lines describing the model in ``directory``.

    Raises:
        ModelError: no readable model.json.
    """
    directory = Path(directory)
    data = read_json(directory, MODEL_JSON, "model")
    cfg, training, holdout = data.get("config", {}), data.get("training", {}), data.get("holdout", {})
    pre, train, score, local = (cfg.get(k, {}) for k in ("preprocess", "train", "score", "local"))
    fmt = training.get("golden_format") or {}
    sizes = f", {fmt['min_size'][0]}x{fmt['min_size'][1]} to {fmt['max_size'][0]}x{fmt['max_size'][1]} px" if fmt else ""
    side = input_label(pre)
    frame = f"{pre.get('frame_size')} px frame in {side} px tiles" if pre.get("frame_size") else f"{side} px"
    radius_facts = holdout.get("radius", {})
    frr = holdout.get("false_reject_rate")
    return [
        ("model", f"{directory} (format {data.get('format_version')}, inspect-svdd {data.get('inspect_svdd_version')}, "
                  f"created {data.get('created')})"),
        ("data", f"{training.get('count', '?')} golden images from {training.get('folder', '?')}{sizes}; "
                 f"files sha256 {str(training.get('files_sha256', '?'))[:12]}; "
                 f"{len(training.get('skipped', []))} skipped; "
                 f"{training.get('defects', {}).get('count', 0)} real defects"),
        ("input", f"{pre.get('channels')} channel(s), {frame}, resize {pre.get('resize')}, roi {pre.get('roi')}"
                  f"{', aspect ratio kept (mirrored margins)' if pre.get('aspect') == 'keep' else ''}"),
        ("registration", registration_text(data.get("alignment") or {})),
        ("training", training_text(data, train, local)),
        *([("model kind", _kind_choice(data["selection"]["model_kind"]))]
          if (data.get("selection") or {}).get("model_kind") else []),
        ("scoring", scorer_text(data, score, local)),
        ("radius", f"{data.get('radius')} ({radius_facts.get('rule', '?')} rule, target false-reject rate "
                   f"{radius_facts.get('target_frr', train.get('target_frr'))})" + _calibration(data)),
        ("held out", f"{holdout.get('count', '?')} golden images; false-reject rate at the radius "
                     + (f"{frr:.1%}" if isinstance(frr, float) else "?")),
        ("golden screening", _screening(data.get("screening") or {})),
        ("fit time", f"{training.get('seconds', '?')} s"),
        ("versions", ", ".join(f"{k} {v}" for k, v in data.get("versions", {}).items())),
        ("fingerprint", str(data.get("fingerprint", "none (made before format 3)"))[:16]),
        ("onnx", _onnx_state(directory)),
    ]
