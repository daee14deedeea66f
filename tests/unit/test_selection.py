"""Scorer selection inside fit: synthetic validation defects, the choice, fusion, explicit settings, training length."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspect_svdd.config import FitConfig, LocalConfig, PreprocessConfig, ScoreConfig, TrainConfig
from inspect_svdd.errors import ConfigError
from inspect_svdd.model.hypersphere import fit_radius, tolerance_factor
from inspect_svdd.model.selection import CANDIDATES, candidate_config, select_scorer, synthetic_defects
from inspect_svdd.model.synthetic import defect_families
from inspect_svdd.model.train import lengthened
from tests.conftest import draw_part

STAGE_DIM = 6  # features below: 6 pooled-stage columns, then a 4-d embedding


def test_synthetic_defects_cover_every_family_change_the_part_and_repeat_for_a_seed() -> None:
    images = np.stack([draw_part(i) for i in range(4)])
    bad, families = synthetic_defects(images, 28, seed=3)
    again, _ = synthetic_defects(images, 28, seed=3)
    assert bad.shape == (28, *images.shape[1:]) and bad.dtype == np.uint8
    assert set(families) == set(defect_families()) and len(set(families)) == 7
    np.testing.assert_array_equal(bad, again)
    sources = images[np.arange(28) % 4]
    changed = np.abs(bad.astype(int) - sources.astype(int)).max(axis=(1, 2, 3))
    assert (changed >= 20).all(), dict(zip(families, changed, strict=True))  # every defect visibly alters its source image


def _features(rng: np.random.Generator, n: int, shift_stages: float = 0.0, shift_embedding: float = 0.0) -> torch.Tensor:
    z = rng.normal(size=(n, STAGE_DIM + 4))
    z[:, :STAGE_DIM] += shift_stages
    z[:, STAGE_DIM:] += shift_embedding
    return torch.from_numpy(z).float()


@pytest.mark.parametrize(("stages", "embedding", "kinds"), [(4.0, 0.0, ("stages", "both")), (0.0, 4.0, ("embedding", "both"))])
def test_the_candidate_that_sees_the_defects_is_chosen(stages: float, embedding: float, kinds: tuple[str, ...]) -> None:
    rng = np.random.default_rng(0)
    bank, good = _features(rng, 200), _features(rng, 40)
    bad = _features(rng, 60, shift_stages=stages, shift_embedding=embedding)
    center = torch.zeros(4) + 0.1
    chosen, head, table = select_scorer(ScoreConfig(), TrainConfig(), bank, good, bad, center, STAGE_DIM, 1,
                                        ["cutpaste"] * 60)
    assert {r["candidate"] for r in table["candidates"]} >= set(CANDIDATES)
    best = table["candidates"][0]
    assert best["candidate"] == table["chosen"] and best["escape"] <= 0.05
    blind = [r for r in table["candidates"] if r["candidate"].split("/")[-1] not in kinds and ":" not in r["candidate"]]
    assert all(r["escape"] >= 0.5 for r in blind)  # the candidates that cannot see the shift let most defects pass
    assert chosen.feature_kind in kinds or chosen.rule == "fusion"
    with torch.no_grad():
        stats = head(torch.cat([good, bad])) if chosen.rule == "fusion" else None
    if stats is not None:
        assert float(stats[40:].median()) > float(stats[:40].median())


def test_fusion_is_standardised_on_the_held_out_images() -> None:
    rng = np.random.default_rng(1)
    bank, good, bad = _features(rng, 200), _features(rng, 40), _features(rng, 60, 3.0, 3.0)
    cfg = candidate_config(ScoreConfig(), "fusion:knn/stages+mahalanobis/embedding")
    assert cfg.rule == "fusion" and cfg.feature_kind == "both" and cfg.members == ("knn/stages", "mahalanobis/embedding")
    from inspect_svdd.model.selection import fusion_head

    head = fusion_head(cfg, bank, good, torch.zeros(4) + 0.1, STAGE_DIM, 1)
    with torch.no_grad():
        fused_good, fused_bad = head(good), head(bad)
    assert float(fused_good.median()) == pytest.approx(1.0, abs=0.15)  # the held-out median sits at 1
    assert float(fused_bad.min()) > float(fused_good.median())


def test_explicit_rule_or_features_switch_selection_off() -> None:
    assert ScoreConfig().selects and ScoreConfig().rule == "auto"
    assert ScoreConfig(features="stages").rule == "knn" and not ScoreConfig(features="stages").selects
    assert ScoreConfig(rule="center").features == "embedding" and not ScoreConfig(rule="center").selects
    with pytest.raises(ConfigError):
        ScoreConfig(rule="fusion", members=("knn/stages",))
    with pytest.raises(ConfigError):
        ScoreConfig(rule="fusion", members=("knn/pixels", "center/embedding"))


def test_fit_with_an_explicit_rule_keeps_it_and_records_no_selection() -> None:
    from inspect_svdd.model.detector import DeepSVDD

    images = np.stack([draw_part(i) for i in range(12)])
    train = TrainConfig(ae_min_steps=0, min_steps=0, ae_epochs=1, epochs=1, augment_factor=1, batch_size=8)
    det = DeepSVDD(FitConfig(PreprocessConfig(channels=3), train=train, score=ScoreConfig(rule="center"))).fit(
        images, progress=False)
    assert det.config.score.rule == "center" and det.selection_ == {}
    auto = DeepSVDD(FitConfig(PreprocessConfig(channels=3), train=train)).fit(images, progress=False)
    assert auto.selection_["chosen"] in {r["candidate"] for r in auto.selection_["candidates"]}
    assert auto.config.score == candidate_config(auto.config.score, auto.selection_["chosen"])
    assert auto.selection_["judged_on"]["held_out"] == 5 and auto.selection_["judged_on"]["defects"] == 120


def test_tolerance_factor_widens_the_radius_for_small_held_out_sets() -> None:
    z = tolerance_factor(10_000, 0.01, 0.5)
    assert z == pytest.approx(2.3263, abs=1e-3)
    assert tolerance_factor(24, 0.01, 0.9) > tolerance_factor(200, 0.01, 0.9) > z
    values = np.random.default_rng(0).lognormal(3.0, 0.3, 24)
    plain, _ = fit_radius(values, 0.01, "lognormal", 0.5)
    bound, facts = fit_radius(values, 0.01, "lognormal", 0.9)
    assert bound > plain and facts["factor"] == pytest.approx(tolerance_factor(24, 0.01, 0.9))


def test_training_length_is_raised_to_the_minimum_steps() -> None:
    cfg = TrainConfig(ae_epochs=10, epochs=50, lr_milestones=(40,), ae_min_steps=100, min_steps=500)
    few = lengthened(cfg, "svdd", 3)  # one golden image grown to a few dozen: 3 steps per epoch
    assert few.epochs == 167 and few.epochs * 3 >= 500 and few.lr_milestones == (134,)
    assert lengthened(cfg, "pretrain", 3).ae_epochs == 34
    assert lengthened(cfg, "svdd", 48) == cfg  # a large golden set already runs 2,400 steps


def test_the_model_kind_that_lets_fewer_defects_pass_at_its_own_radius_is_kept() -> None:
    from inspect_svdd.model.selection import judge_kinds

    rng = np.random.default_rng(4)
    good = rng.lognormal(0.0, 0.2, 40)
    sharp, blurred = rng.lognormal(2.0, 0.2, 60), rng.lognormal(0.3, 0.2, 60)  # one kind sees the defects, one hardly
    families = ["cutpaste", "smudge", "dent"] * 20
    for local_sees in (True, False):
        stats = {"global": (good, blurred if local_sees else sharp, 2.0), "local": (good, sharp if local_sees else blurred, 2.0)}
        chosen, rows, _ = judge_kinds(stats, families)
        assert chosen == ("local" if local_sees else "global") == rows[0]["candidate"]
        assert rows[0]["escape"] <= 0.05 < 0.5 <= rows[1]["escape"]
        assert set(rows[0]["escape_per_family"]) == {"cutpaste", "smudge", "dent"}
    tie = judge_kinds({"local": (good, sharp, 2.0), "global": (good, sharp, 2.0)}, families)
    assert tie[0] == "global" and tie[2] == "lighter model"  # equal figures: the lighter model


def test_an_escape_difference_within_chance_leaves_the_model_kind_to_the_partial_auroc() -> None:
    from inspect_svdd.model.selection import escapes_differ, judge_kinds

    assert not escapes_differ(0.95, 1.0, 20) and escapes_differ(0.05, 0.5, 60) and not escapes_differ(0.0, 0.0, 6)
    rng = np.random.default_rng(5)
    good = np.sort(rng.lognormal(0.0, 0.2, 40))
    r2 = float(good[-1]) * 1.5  # every defect below passes at this radius
    ranked = np.linspace(good[-4], r2 * 0.99, 20)  # above nearly every good image: ranked well, yet inside R
    mixed = np.r_[np.linspace(good[0], good[-1], 19), r2 * 2]  # one defect caught, the rest among the good
    chosen, rows, decided = judge_kinds({"global": (good, mixed, r2), "local": (good, ranked, r2)}, ["real"] * 20)
    assert [row["escape"] for row in rows] == [1.0, 0.95]  # local lets one more pass: within chance of 20
    assert chosen == "local" and rows[1]["pauroc_10"] + 0.2 < rows[0]["pauroc_10"] and decided == "partial AUROC"


def test_model_kind_both_fits_both_kinds_and_refuses_what_only_one_kind_takes() -> None:
    auto = FitConfig(local=LocalConfig(model_kind="both"))
    assert auto.chooses_kind and not auto.is_local
    assert auto.of_kind("local").is_local and auto.of_kind("global").local.model_kind == "global"
    for bad in (dict(preprocess=PreprocessConfig(image_size=128, image_height=64)),  # the global model is square
                dict(score=ScoreConfig(rule="knn")),  # the local model has one scorer
                dict(preprocess=PreprocessConfig(image_size=8))):  # too small for the map
        with pytest.raises(ConfigError):
            FitConfig(local=LocalConfig(model_kind="both"), **bad)  # type: ignore[arg-type]


def test_the_fit_log_says_when_the_partial_auroc_chose_the_model_kind() -> None:
    from inspect_svdd.cli.fit import kind_line

    rows = [{"candidate": "local", "escape": 1.0, "pauroc_10": 0.569}, {"candidate": "global", "escape": 0.95, "pauroc_10": 0.51}]
    choice = {"chosen": "local", "candidates": rows, "decided_by": "partial AUROC",
              "judged_on": {"held_out": 143, "defects": 20, "families": ["real"]}}
    assert "within chance on 20 defects: the partial AUROC decided, 0.569 against 0.510" in kind_line(choice)
    rows[1]["escape"] = 0.2  # a clear difference: the escape rate decided, nothing to explain
    assert "within chance" not in kind_line({**choice, "chosen": "global", "decided_by": "escape"})
    assert "the lighter model" in kind_line({**choice, "chosen": "global", "decided_by": "lighter model"})


def _texture(seed: int, size: int = 128) -> np.ndarray:
    """A tile of grain: smoothed noise, the same statistics everywhere, nothing placed in it.

    At 128 px such tiles peak at 0.02-0.07 (the threshold is 0.2); at 64 px a
    window of noise alone can peak near 0.2, so the test stays at the default size.
    """
    import cv2

    noise = np.random.default_rng(seed).normal(128, 40, (size, size)).astype(np.float32)
    grain = np.clip(cv2.GaussianBlur(noise, (0, 0), 1.5) * 2 - 128, 0, 255).astype(np.uint8)
    return np.repeat(grain[..., None], 3, axis=2)


def test_model_kind_auto_decides_from_the_layout_before_training() -> None:
    from inspect_svdd.model.detector import DeepSVDD
    from inspect_svdd.model.local import detector_for, record_kind, resolve_kind

    auto = FitConfig(PreprocessConfig(channels=3))
    assert auto.local.model_kind == "auto"  # the default
    with pytest.raises(ConfigError, match="resolve_kind"):
        detector_for(auto)
    parts, tiles = np.stack([draw_part(i) for i in range(12)]), np.stack([_texture(i) for i in range(12)])
    placed, facts = resolve_kind(auto, parts)
    assert placed.local.model_kind == "global" and facts is not None and facts["decided_by"] == "layout"
    assert facts["median_peak"] > 0.8 > 0.2 == facts["texture_below"]
    texture, facts = resolve_kind(auto, tiles)
    assert texture.is_local and facts is not None and facts["chosen"] == "local" and facts["median_peak"] < 0.1
    det = record_kind(DeepSVDD(placed), facts)
    assert det.selection_["model_kind"]["chosen"] == "local"
    explicit = FitConfig(PreprocessConfig(channels=3), local=LocalConfig(model_kind="local"))
    assert resolve_kind(explicit, parts) == (explicit, None)  # an explicit kind is kept, nothing measured


@pytest.mark.parametrize(("config", "pretrained", "says"), [
    (FitConfig(score=ScoreConfig(rule="knn")), False, "--score"),
    (FitConfig(), True, "--pretrained"),
])
def test_model_kind_auto_follows_an_option_for_the_global_model(config: FitConfig, pretrained: bool, says: str) -> None:
    from inspect_svdd.model.local import resolve_kind

    tiles = np.stack([_texture(i) for i in range(4)])  # a texture: the layout alone would say local
    resolved, facts = resolve_kind(config, tiles, pretrained=pretrained)
    assert resolved.local.model_kind == "global" and facts is not None
    assert facts["decided_by"] == "options" and says in facts["reason"]


def test_an_input_only_the_local_model_takes_is_local_on_a_texture_and_one_clear_error_on_placed_parts() -> None:
    from inspect_svdd.model.detector import DeepSVDD
    from inspect_svdd.model.local import resolve_kind

    wide = FitConfig(PreprocessConfig(image_size=128, image_height=64, channels=3))
    tiles = np.stack([_texture(i)[:64] for i in range(12)])
    assert resolve_kind(wide, tiles)[0].is_local
    parts = np.stack([draw_part(i)[32:96] for i in range(12)])
    with pytest.raises(ConfigError, match=r"square.*--model-kind local takes it"):
        resolve_kind(wide, parts)
    assert DeepSVDD(FitConfig()).config.local.model_kind == "global"  # a detector records its own kind


def test_regions_are_kept_only_when_their_map_ranks_clearly_better() -> None:
    """judge_regions: the larger share must beat share 0's AUROC by more than two standard errors; escape does not count."""
    from inspect_svdd.model.selection import auroc_se, judge_regions

    rng = np.random.default_rng(0)
    good, bad = rng.normal(0, 1, 150), rng.normal(0.6, 1, 300)
    families = ["cutpaste"] * 300
    near = {0.0: (good, bad, 9.0), 0.5: (good, bad + 0.05, 9.0)}  # a hair better: within chance
    chosen, rows = judge_regions(near, families)
    assert chosen == 0.0 and rows[0]["candidate"] == "0" and rows[1]["auroc"] > rows[0]["auroc"]
    clear = {0.0: (good, bad, 0.0), 0.5: (good, bad + 0.8, 9.0)}  # ranks far better, though more pass its radius
    chosen, rows = judge_regions(clear, families)
    assert chosen == 0.5 and rows[0]["escape"] > rows[1]["escape"]
    assert 0.02 < auroc_se(0.7, 150, 300) < 0.04 and auroc_se(0.7, 1500, 3000) < auroc_se(0.7, 150, 300) / 3


def test_report_shows_the_regions_comparison_with_the_kept_share_marked() -> None:
    """The model card of report.html: the two maps' rows as fit recorded them (through JSON), the chosen one marked."""
    import json

    from inspect_svdd.evaluate.report import _model_card
    from inspect_svdd.model.selection import REGIONS_RANK, judge_regions

    rng = np.random.default_rng(0)
    good, bad = rng.normal(0, 1, 150), rng.normal(0.6, 1, 300)
    chosen, rows = judge_regions({0.0: (good, bad, 0.0), 0.5: (good, bad + 0.8, 9.0)}, ["dent"] * 300)
    choice = {"chosen": chosen, "candidates": rows, "rank": REGIONS_RANK,
              "judged_on": {"held_out": 150, "defects": 300, "families": ["dent"]}}
    card = _model_card(json.loads(json.dumps({"selection": {"local_regions": choice}})))
    assert "Share of large-region defects chosen by fit" in card and "Judged on 150 held-out golden images" in card
    assert "<td>0.5 (chosen)</td>" in card and "<td>0</td>" in card  # the kept share marked, the other listed
    assert f"<td>{rows[0]['auroc']:.3f}</td>" in card  # the AUROC the rule ranked them by
    assert "large-region" not in _model_card({"selection": {}})  # no comparison recorded, no section
