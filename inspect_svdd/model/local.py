"""The local model kind: a dense anomaly map for small and thin defects (``fit --model-kind local``).

One embedding of a 128-px view cannot single out a 5-pixel blowhole or a
hairline crack. :class:`LocalSVDD` scores every 4x4-pixel cell of a larger
input instead: a bias-free fully convolutional network
(:class:`~inspect_svdd.model.local_net.LocalNet`) is trained so that the cells
of golden images lie close to a centre c, while the cells inside synthetic
defects drawn on golden images (with their masks,
:mod:`inspect_svdd.model.masked_defects`) are pushed out by Deep SAD's
inverse term (FCDD after Liznerski et al., ICLR 2021; the pseudo-anomalies
after DRAEM, Zavrtanik et al., ICCV 2021). The image's statistic is the
largest cell of the smoothed, calibrated map; the radius is set on held-out
golden images exactly as for the global model, so ``score``, ``calibrate``,
``export`` and the runtime treat both kinds alike, and the map itself is an
output of the ONNX graph (the heat map, in one pass).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from inspect_svdd.config import FitConfig, MapReference, ScoreConfig, TrainConfig, level_batch
from inspect_svdd.errors import ConfigError
from inspect_svdd.model.augment import apply, build_pipeline
from inspect_svdd.model.checkpoint import Checkpoint, Randomness
from inspect_svdd.model.detector import DeepSVDD
from inspect_svdd.model.hypersphere import init_center
from inspect_svdd.model.local_net import LocalNet, MapHead, halve
from inspect_svdd.model.masked_defects import masked_defect
from inspect_svdd.model.train import embed, seed_everything

LOG_EVERY = 50  # steps between history records
REGION_SHARES = (0.0, 0.5)  # the shares of large-region defects fit chooses between when --local-regions is unset
CHECKPOINT_EVERY = 100  # steps between checkpoints of a local fit (fit's Checkpoint counts these as its epochs)


def detector_for(config: FitConfig) -> DeepSVDD:
    """A fresh detector of the config's model kind: ``global`` or ``local``.

    ``both`` is :func:`fit_either_kind`; ``auto`` is decided by :func:`resolve_kind` first.
    """
    if config.chooses_kind:
        raise ConfigError("model kind both fits both kinds: use fit_either_kind")
    if config.local.model_kind == "auto":
        raise ConfigError("model kind auto is decided from the golden images: use resolve_kind first")
    return LocalSVDD(config) if config.is_local else DeepSVDD(config)


def resolve_kind(config: FitConfig, images: np.ndarray, pretrained: bool = False,
                 defects: np.ndarray | None = None) -> tuple[FitConfig, dict[str, Any] | None]:
    """``--model-kind auto`` (the default): the config with the kind fit uses, and the facts it was decided on.

    Before any training, from the golden ``images`` (at the input size): when
    they do not register onto each other (median left-out phase-correlation
    peak below :data:`~inspect_svdd.io.align.AUTO_PEAK`), the photo is a
    texture with no part placed in it, where defects are small against the
    whole view (magnetic tiles at 128 px: AUROC 82.6 local against 64.9 global), so ``local``; a placed
    part gets ``global``. An option for the global model only decides instead (``decided_by``
    ``options``); an input only the local model takes (non-square, a size the global network
    cannot take) on placed parts is a ConfigError that names ``--model-kind local``. Other kinds
    are returned unchanged, with no facts.
    """
    if config.local.model_kind != "auto":
        return config, None
    reason = ("--pretrained is a global autoencoder" if pretrained else
              "--defects train the global model (Deep SAD)" if defects is not None and len(defects) else None)
    if reason is None:
        try:
            config.of_kind("local")
        except ConfigError as exc:  # an option for the global model only
            reason = str(exc)
    if reason is not None:
        return config.of_kind("global"), {"chosen": "global", "decided_by": "options", "reason": reason}
    from inspect_svdd.io.align import AUTO_PEAK, golden_peak

    peak = golden_peak(images)
    kind = "local" if peak < AUTO_PEAK else "global"
    try:
        chosen = config.of_kind(kind)
    except ConfigError as exc:  # the golden images are placed parts, and the input is one only the local model takes
        raise ConfigError(f"{exc}; --model-kind local takes it (fit chose the global model: the golden images "
                          f"register, median peak {peak:.3f})") from None
    return chosen, {"chosen": kind, "decided_by": "layout", "median_peak": round(peak, 3), "texture_below": AUTO_PEAK}


def record_kind(det: DeepSVDD, facts: dict[str, Any] | None) -> DeepSVDD:
    """``det`` with :func:`resolve_kind`'s facts in its ``selection_["model_kind"]`` (model.json, info, the report)."""
    if facts:
        det.selection_ = {**det.selection_, "model_kind": facts}
    return det


def fit_either_kind(config: FitConfig, images: np.ndarray, validation: np.ndarray | None = None,
                    progress: bool = True, defects: np.ndarray | None = None) -> DeepSVDD:
    """``--model-kind both``: fit the global and the local model on golden ``images``; keep the better one.

    Both are judged on the same validation defects at their own radius
    (:func:`~inspect_svdd.model.selection.judge_kinds`): the real defective
    parts of ``validation`` when given (the global model also chooses its
    scorer on them), else synthetic defects made from the held-out golden
    images, of the families the local model never trains on (it learns to
    push out blends, specks and lines, so those would favour it unfairly).
    The kept model records the comparison in ``selection_["model_kind"]``.
    Real ``defects`` to push out (Deep SAD) train the global model only, so
    they are refused: the two kinds would not be fitted on the same terms.
    """
    from inspect_svdd.model.selection import KIND_RANK, judge_kinds

    if defects is not None and len(defects):
        raise ConfigError("--defects is for one model kind's fit; --model-kind both fits the global and the local "
                          "model from scratch (choose one kind to use it)")

    fitted = {kind: detector_for(config.of_kind(kind)).fit(images, progress, validation=validation)
              for kind in ("global", "local")}
    if validation is not None and len(validation):
        bad, families = validation, ["real"] * len(validation)
    else:
        hold = DeepSVDD(config.of_kind("global"))._split(images)[1]  # the held-out images of both fits
        bad, families = unseen_defects(config, hold)
    statistics = {kind: judged_statistics(det, bad) for kind, det in fitted.items()}
    chosen, rows, decided = judge_kinds(statistics, families)
    kept = fitted[chosen]
    kept.selection_ = {**kept.selection_, "model_kind": {
        "chosen": chosen, "candidates": rows,
        "judged_on": {"held_out": len(statistics[chosen][0]), "defects": len(bad), "families": sorted(set(families))},
        "rank": KIND_RANK, "decided_by": decided}}
    return kept


def unseen_defects(config: FitConfig, hold: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Synthetic defects made from the held-out golden images ``hold``, of the families the local model never trains on."""
    from inspect_svdd.model.selection import UNSEEN_BY_LOCAL, defect_count, synthetic_defects

    return synthetic_defects(hold, defect_count(config.score, len(hold)), config.train.seed + 6, UNSEEN_BY_LOCAL)


def judged_statistics(det: DeepSVDD, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """A fitted model's (held-out golden statistics, statistics of the validation defects ``bad``, R**2) to judge it on."""
    return (np.asarray(det.holdout_["distances"], np.float64), det.distances(bad).astype(np.float64),
            det._fitted()[2] ** 2)


def _batch(images: np.ndarray, cfg: FitConfig, rng: np.random.Generator, pipeline: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch: augmented golden images, every second one with a synthetic defect; and the masks."""
    picked, masks = [], []
    for j in range(cfg.local.local_batch):
        image = images[int(rng.integers(len(images)))]
        if pipeline is not None:
            image = apply(pipeline, image)
        mask = np.zeros(image.shape[:2], bool)
        if j % 2:
            image, mask = masked_defect(image, rng, images, cfg.local.local_defects, cfg.local.local_regions or 0.0)
        picked.append(image)
        masks.append(mask)
    return torch.from_numpy(np.stack(picked)), torch.from_numpy(np.stack(masks)[:, None].astype(np.float32))


def local_loss(dist: torch.Tensor, masks: torch.Tensor, kind: str = "sad") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, its normal part, its anomalous part): golden cells pulled to c, defective cells pushed out.

    A cell is defective when any of its pixels is (max-pooling the mask to the
    map's grid). ``sad``: golden cells add their squared distance d², defective
    ones Deep SAD's ``1 / d²``, bounded as d grows. ``fcdd``: FCDD's hypersphere
    classifier on ``h = sqrt(d² + 1) - 1``: golden cells add h, defective ones
    ``-log(1 - exp(-h))``.
    """
    if kind not in ("sad", "fcdd"):  # auto is resolved by fit (_resolve_map) before training
        raise ValueError(f"local loss {kind!r}: sad or fcdd")
    cells = F.adaptive_max_pool2d(masks, dist.shape[-2:])[:, 0] > 0
    if kind == "fcdd":
        h = torch.sqrt(dist + 1.0) - 1.0
        pull, push = h, -torch.log(-torch.expm1(-h) + 1e-9)
    else:
        pull, push = dist, 1.0 / (dist + 1e-6)
    normal = pull[~cells].mean() if (~cells).any() else dist.new_zeros(())
    anomalous = push[cells].mean() if cells.any() else dist.new_zeros(())
    return normal + anomalous, normal, anomalous


def train_local(net: LocalNet, images: np.ndarray, cfg: FitConfig, progress: bool = True,
                checkpoint: Checkpoint | None = None, level: int = 0,
                history: list[dict[str, Any]] | None = None, prefix: str = "") -> list[dict[str, Any]]:
    """Train level ``level`` of ``net`` (0: the network itself) on golden uint8 NHWC ``images`` at that level's input.

    Seeded; returns the loss history, after ``history`` (the earlier levels').
    With a ``checkpoint`` the state (the whole network, optimiser, schedule and
    every random source the batches draw from) is saved every
    ``checkpoint.every`` steps, and a saved state of this fit is continued
    from: the resumed steps are the ones a straight fit runs. ``prefix`` names
    the candidate map in the checkpoint and the progress bar when fit trains
    more than one (:meth:`LocalSVDD._choose_regions`).
    """
    lc, t = cfg.local, cfg.train
    body, stage = net.levels()[level], level_stage(level)
    rng = np.random.default_rng(t.seed + 7 + 100 * level)
    pipeline = None if t.augment == "none" else build_pipeline(t.augment, t.seed + 1 + 100 * level)
    body.eval()
    with torch.no_grad():  # c: the mean cell feature of (up to) 64 golden images, coordinates away from zero
        feats = body.cell_features(torch.from_numpy(images[:64]))
        body.center.copy_(init_center(feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1]), t.eps))
    body.train()
    opt = torch.optim.Adam(body.parameters(), lr=lc.local_lr, weight_decay=1e-6)
    schedule = torch.optim.lr_scheduler.MultiStepLR(opt, [2 * lc.local_steps // 3], 0.1)
    randomness = Randomness.of_sources(None, [rng], [pipeline])
    history = list(history or [])
    start, saved, _ = checkpoint.restore(prefix + stage, {"net": net}, opt, schedule, randomness) if checkpoint else (
        0, [], {})
    history = saved or history
    batch = level_batch(lc.local_batch, lc.local_scales, level)
    level_cfg = dataclasses.replace(cfg, local=dataclasses.replace(lc, local_batch=batch))
    for step in tqdm(range(start, lc.local_steps), desc=prefix + stage, unit="step", initial=start, total=lc.local_steps,
                     disable=None if progress else True, leave=False):
        x, masks = _batch(images, level_cfg, rng, pipeline)
        loss, normal, anomalous = local_loss(body.centre_map(x), masks, lc.local_loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        if step % LOG_EVERY == 0 or step == lc.local_steps - 1:
            history.append({"stage": stage, "epoch": step, "step": step, "loss": loss.item(),
                            "normal": normal.item(), "anomalous": anomalous.item()})
        if checkpoint:
            checkpoint.save(prefix + stage, step + 1, lc.local_steps, {"net": net}, opt, schedule, randomness, history, {})
    body.eval()
    return history


def level_stage(level: int) -> str:
    """The name of a level's training stage (history, checkpoint): ``local``, then ``local/2`` for the halved input."""
    return "local" if level == 0 else f"local/{2**level}"


def level_images(images: np.ndarray, level: int) -> np.ndarray:
    """uint8 NHWC images at a level's input: halved ``level`` times by :func:`halve`'s 2x2 means.

    Rounded to uint8, which the training batches' augmentation and synthetic
    defects take; the network itself passes the unrounded means on (at most
    half a grey level apart).
    """
    for _ in range(level):
        images = np.clip(np.rint(halve(torch.from_numpy(images)).numpy()), 0, 255).astype(np.uint8)
    return images


class LocalSVDD(DeepSVDD):
    """The local model: ``score`` is ``largest map cell - R**2`` (higher = more anomalous, > 0 = fail).

    Same public interface as :class:`DeepSVDD` (``fit``, ``score``,
    ``predict``, ``distances``), plus :meth:`maps`, the dense anomaly maps.
    ``encoder_`` is the :class:`LocalNet`, ``head_`` the :class:`MapHead`,
    ``center_`` the cells' centre.
    """

    KIND = "local"
    stage_prefix = ""  # the candidate's name in checkpoints when fit trains more than one map

    def pretrain(self, images: np.ndarray, progress: bool = True) -> DeepSVDD:
        """The local model has no autoencoder stage."""
        raise ConfigError("the local model has no autoencoder to pretrain (pretrain is for the global model)")

    def fit(self, images: np.ndarray, progress: bool = True, defects: np.ndarray | None = None,
            checkpoint: Checkpoint | None = None, validation: np.ndarray | None = None) -> DeepSVDD:
        """Train the map on golden uint8 NHWC ``images``; set the head's calibration and the radius.

        ``defects`` (Deep SAD with real parts) are a global-model feature: the
        local model makes its own masked defects. ``validation`` (real
        defective parts, never trained on) joins the synthetic defects that
        judge the choice of the share of large regions where fit makes one
        (:meth:`_choose_regions`); the local model has one scorer, so
        otherwise they judge nothing. With a
        ``checkpoint`` (its ``every`` counted in training steps), an
        interrupted fit resumes.
        """
        self._check_images(images)
        if defects is not None and len(defects):
            raise ConfigError("--defects trains the global model (Deep SAD); the local model draws its own defects "
                              "with masks")
        train_images, hold_images = self._split(self._fit_alignment(images))
        cfg = self.config = self._resolve_map(self.config)
        if cfg.local.local_regions is None:
            return self._choose_regions(images, progress, checkpoint, validation)
        seed_everything(cfg.train.seed)
        net = LocalNet(cfg.local, cfg.preprocess.channels, cfg.preprocess.input_shape, cfg.net.leaky_slope)
        stages = [self.stage_prefix + level_stage(i) for i in range(cfg.local.local_scales)]
        saved = checkpoint.stage() if checkpoint is not None else None
        done = stages.index(saved) if saved in stages else 0  # levels a resumed fit has finished
        history: list[dict[str, Any]] = []
        for level, body in enumerate(net.levels()):  # each level on its own input, the finest first
            inputs = level_images(train_images, level)
            body.adapter.fit_stats(inputs)
            if level >= done:
                history = train_local(net, inputs, cfg, progress, checkpoint, level, history, self.stage_prefix)
            if body.positional:
                body.fit_position(torch.from_numpy(inputs[i : i + 32]) for i in range(0, len(inputs), 32))
        self.history_ = history
        head = MapHead(net.grids, cfg.local.map_smoothing, cfg.local.map_calibration).fit(embed(net, train_images, 32))
        self.encoder_, self.center_, self.head_ = net, net.center.clone(), head  # type: ignore[assignment]
        self.schedule_ = {"local": {"steps": cfg.local.local_steps, "lr_milestones": [2 * cfg.local.local_steps // 3],
                                    "levels": cfg.local.local_scales}}
        self.selection_ = {"chosen": "local map", "note": "the largest cell of the calibrated anomaly map"}
        self._set_radius(train_images, hold_images, 0.0)
        self.holdout_["defects"] = 0
        self.reference_ = self._nominal(train_images)
        return self

    def _choose_regions(self, images: np.ndarray, progress: bool, checkpoint: Checkpoint | None,
                        validation: np.ndarray | None = None) -> LocalSVDD:
        """Unset ``local_regions`` with the map to c: fit a map for each of :data:`REGION_SHARES`, keep the better.

        Both are judged on the held-out golden images against synthetic
        defects made from them, of the families neither map trains on, and the
        real defective parts of ``validation`` when given, pooled
        (:func:`~inspect_svdd.model.selection.judge_regions`): twenty real
        castings alone leave the two maps within chance where the synthetic
        ones separate them (local/regions-validate-probe.txt). The kept one
        becomes this detector, its config records the share and
        ``selection_["local_regions"]`` the comparison. With a ``checkpoint``
        each map saves under its own name; a resumed fit continues the map it
        was in and trains the maps before it again, unsaved (the same maps).
        """
        from inspect_svdd.model.selection import REGIONS_RANK, judge_regions

        names = [f"regions {share:g}/" for share in REGION_SHARES]
        saved = checkpoint.stage() if checkpoint is not None else None
        current = next((i for i, name in enumerate(names) if saved and saved.startswith(name)), 0)
        hold = self._split(images)[1]
        bad, families = unseen_defects(self.config, hold)
        if validation is not None and len(validation):  # a few real parts alone cannot separate the two maps
            bad, families = np.concatenate([validation, bad]), ["real"] * len(validation) + families
        statistics, fitted = {}, {}
        for i, (share, name) in enumerate(zip(REGION_SHARES, names, strict=True)):
            candidate = LocalSVDD(dataclasses.replace(self.config, local=dataclasses.replace(self.config.local,
                                                                                              local_regions=share)))
            candidate.stage_prefix = name
            candidate.fit(images, progress, checkpoint=checkpoint if i >= current else None)
            statistics[share] = judged_statistics(candidate, bad)
            fitted[share] = candidate
        chosen, rows = judge_regions(statistics, families)
        vars(self).update(vars(fitted[chosen]))
        del self.stage_prefix  # back to the class's: the kept map is this detector's own
        self.selection_ = {**self.selection_, "local_regions": {
            "chosen": chosen, "candidates": rows, "rank": REGIONS_RANK,
            "judged_on": {"held_out": len(hold), "defects": len(bad), "families": sorted(set(families)),
                          "real": families.count("real")}}}
        return self

    def _resolve_map(self, config: FitConfig) -> FitConfig:
        """The settings fit decides once it knows whether it registers the parts: reference, context, loss, pixels.

        ``auto`` reference: ``position`` when fit registers the parts (each cell
        has its place), else ``centre``. Unset context: 2 dilated blocks with the
        centre (where the input is large enough), 0 per place. ``auto`` loss:
        FCDD's with the centre, Deep SAD's per place. Unset pixels: on per place.
        Unset regions: 0 per place; with the centre they stay unset, for
        :meth:`_choose_regions`.
        """
        local = config.local
        reference: MapReference = local.map_reference if local.map_reference != "auto" else (
            "position" if self.aligner_ is not None else "centre")
        context = local.local_context
        coarsest = min(config.preprocess.input_shape) >> (local.local_scales - 1)  # decides whether the blocks fit
        if context is None:
            context = 2 if reference == "centre" and coarsest // 4 > 4 else 0
        loss = local.local_loss if local.local_loss != "auto" else "fcdd" if reference == "centre" else "sad"
        if local.map_pixels and reference == "centre":
            raise ConfigError("--map-pixels compares each cell with the golden cells at its place: it needs registered "
                              "parts (--map-reference position), not the map to the centre c")
        pixels = reference == "position" if local.map_pixels is None else local.map_pixels
        regions = 0.0 if local.local_regions is None and reference == "position" else local.local_regions
        return dataclasses.replace(config, local=dataclasses.replace(local, map_reference=reference, local_context=context,
                                                                    local_loss=loss, map_pixels=pixels,
                                                                    local_regions=regions))

    def with_rule(self, score: ScoreConfig, images: np.ndarray, train: TrainConfig | None = None,
                  validation: np.ndarray | None = None) -> DeepSVDD:
        """Other scoring rules are for the global model's embedding."""
        raise ConfigError("the local model has one scorer (its map's largest cell); scoring rules are for the global model")

    def embeddings(self, images: np.ndarray, batch_size: int = 32, kind: str | None = None) -> torch.Tensor:
        """The flattened distance maps (before smoothing and calibration): N x cells."""
        self._check_images(images)
        return embed(self._fitted()[0], self._inputs(images), batch_size, "map")

    def maps(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """The anomaly maps of uint8 NHWC images: N x rows/4 x columns/4 of the input, as the ONNX ``map`` output."""
        head = self._fitted()[1]
        with torch.no_grad():
            return head.map(self.embeddings(images, batch_size)).numpy()  # type: ignore[operator]
