"""The local model kind: it learns, its map points at a pasted defect, its rules and its config checks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from inspect_svdd.config import FitConfig, LocalConfig, PreprocessConfig, ScoreConfig, TrainConfig
from inspect_svdd.errors import ConfigError
from inspect_svdd.model.local import LocalSVDD, detector_for, local_loss
from inspect_svdd.model.local_net import LocalNet, MapHead
from inspect_svdd.model.masked_defects import masked_defect
from tests.conftest import draw_part, killed_after_checkpoint

SIZE = 64


def _config(steps: int, local_input: str = "image", context: int = 2, scales: int = 1, loss: str = "sad",
            regions: float | None = 0.0) -> FitConfig:
    return FitConfig(PreprocessConfig(image_size=SIZE, channels=3),
                     train=TrainConfig(holdout=0.25, min_holdout=3, augment="none"),
                     local=LocalConfig(model_kind="local", local_steps=steps, local_batch=8, local_width=16,
                                       local_input=local_input, local_context=context,  # type: ignore[arg-type]
                                       local_scales=scales, local_loss=loss,  # type: ignore[arg-type]
                                       local_regions=regions))


@pytest.fixture(scope="module")
def parts() -> np.ndarray:
    return np.stack([draw_part(i, size=SIZE) for i in range(16)])


@pytest.fixture(scope="module")
def fitted(parts: np.ndarray) -> LocalSVDD:
    det = detector_for(_config(150, "golden", 0)).fit(parts, progress=False)  # the network of older models: the
    assert isinstance(det, LocalSVDD)  # golden-statistics input, no context blocks (integration tests fit the default)
    return det


@pytest.fixture(scope="module")
def two_scales(parts: np.ndarray) -> LocalSVDD:
    """A map from the input and from the input halved (``--local-scales 2``)."""
    det = detector_for(_config(150, "image", 0, scales=2)).fit(parts, progress=False)
    assert isinstance(det, LocalSVDD)
    return det


def _with_spot(image: np.ndarray, centre: tuple[int, int]) -> np.ndarray:
    out = image.copy()
    cv2.circle(out, centre, 3, (250, 250, 250), -1)
    return out


def test_training_pulls_golden_cells_to_the_centre(fitted: LocalSVDD) -> None:
    """The normal part of the loss falls several-fold; without optimisation steps it would not move."""
    local = [h for h in fitted.history_ if h["stage"] == "local"]
    assert local[-1]["normal"] < 0.3 * local[0]["normal"], (local[0], local[-1])
    assert fitted.schedule_["local"]["steps"] == 150


def _spot_is_hottest(det: LocalSVDD) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Six good parts, the same with a bright spot, and the spotted maps, whose hottest cell is on the spot."""
    goods = np.stack([draw_part(300 + i, size=SIZE) for i in range(6)])
    bads = np.stack([_with_spot(g, (24 + 3 * i, 36 - 2 * i)) for i, g in enumerate(goods)])
    maps = det.maps(bads)
    assert maps.shape == (6, SIZE // 4, SIZE // 4)
    for i, m in enumerate(maps):
        y, x = np.unravel_index(np.argmax(m), m.shape)
        spot_y, spot_x = (36 - 2 * i) / 4, (24 + 3 * i) / 4
        assert abs(y - spot_y) <= 2 and abs(x - spot_x) <= 2, (i, (y, x), (spot_y, spot_x))
    return goods, bads, maps


def test_map_points_at_a_pasted_defect(fitted: LocalSVDD) -> None:
    """A bright spot on the part: its cell is the hottest of the map, and the image scores above every good part."""
    goods, bads, maps = _spot_is_hottest(fitted)
    good_stats, bad_stats = fitted.distances(goods), fitted.distances(bads)
    assert bad_stats.min() > 3 * good_stats.max(), (good_stats, bad_stats)
    np.testing.assert_allclose(fitted.distances(bads), maps.reshape(6, -1).max(axis=1), rtol=1e-5)


def test_two_scales_train_each_level_and_average_their_maps(two_scales: LocalSVDD) -> None:
    """Each level's own training pulls its golden cells in; the map is the levels' normalised mean on the finer grid."""
    for stage in ("local", "local/2"):  # without a level's training steps its stage would be missing or flat
        losses = [h["normal"] for h in two_scales.history_ if h["stage"] == stage]
        assert losses and losses[-1] < 0.3 * losses[0], (stage, losses)
    net, head = two_scales.encoder_, two_scales.head_
    assert isinstance(net, LocalNet) and isinstance(head, MapHead)
    assert net.grids == [(SIZE // 4, SIZE // 4), (SIZE // 8, SIZE // 8)]
    assert not torch.equal(net.center, net.levels()[1].center)  # two networks, two centres
    goods = np.stack([draw_part(300 + i, size=SIZE) for i in range(4)])
    flat = two_scales.embeddings(goods)
    fine, coarse = head.level_maps(flat)
    up = torch.nn.functional.interpolate(coarse[:, None], size=fine.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    expected = (fine / head.norm[0] + up / head.norm[1]) / 2
    torch.testing.assert_close(torch.from_numpy(two_scales.maps(goods)), expected)
    assert 0.5 < float(head.map(flat).flatten(1).amax(1).median()) < 2.0  # each level divided by its golden median


def test_two_scales_map_points_at_a_pasted_defect_and_exports_with_parity(two_scales: LocalSVDD, tmp_path) -> None:
    """The spot is hottest in the averaged map; ONNX Runtime gives the same statistic and map (export's check)."""
    from inspect_svdd.deploy.export import export_onnx
    from inspect_svdd.deploy.runtime import OnnxScorer
    from inspect_svdd.model.artifact import load_model, save_model

    goods, bads, maps = _spot_is_hottest(two_scales)
    assert two_scales.distances(bads).min() > two_scales.distances(goods).max()
    assert export_onnx(two_scales, tmp_path / "model.onnx", {}, np.concatenate([goods, bads])) < 1e-3
    np.testing.assert_allclose(OnnxScorer(tmp_path / "model.onnx", device="cpu").maps(bads), maps, rtol=1e-3,
                               atol=1e-3 * float(maps.max()))
    save_model(two_scales, tmp_path / "saved")
    loaded, _ = load_model(tmp_path / "saved")
    assert loaded.config.local.local_scales == 2
    np.testing.assert_array_equal(loaded.score(bads), two_scales.score(bads))


def test_radius_from_held_out_golden_images(fitted: LocalSVDD) -> None:
    assert fitted.holdout_["count"] == 4
    assert fitted.radius_ is not None and fitted.radius_ > 0
    assert len(set(np.round(fitted.holdout_["distances"], 6))) > 1  # not collapsed to one value


def test_the_network_keeps_the_paper_rules() -> None:
    net = LocalNet(LocalConfig(model_kind="local"), 3, (SIZE, SIZE))
    assert not [n for n, _ in net.named_parameters() if n.endswith("bias")]
    assert all(not m.affine for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))


def _printed(seed: int, printed: bool = True) -> np.ndarray:
    """A registered plain part with a dark print at one place (or without it: a missing print)."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal(150, 3, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    if printed:
        cv2.rectangle(image, (40, 12), (51, 23), (40, 40, 40), -1)
    return image


def test_the_position_reference_finds_a_print_missing_from_its_place() -> None:
    """Per-place golden statistics: the plain patch where the print belongs is the hottest cell of the map.

    Against the one centre c (the reference before) a plain patch is as normal
    as anywhere else on the plain part, so the hottest cell is not the print's
    place; the untrained network is enough to show the difference.
    """
    golden = torch.from_numpy(np.stack([_printed(i) for i in range(12)]))
    missing = torch.from_numpy(np.stack([_printed(100 + i, printed=False) for i in range(3)]))
    torch.manual_seed(0)
    net = LocalNet(LocalConfig(model_kind="local", map_reference="position", local_context=0), 3, (SIZE, SIZE)).eval()
    net.fit_position(golden[i : i + 5] for i in range(0, 12, 5))  # in batches, as fit streams them
    with torch.no_grad():
        features = net.cell_features(golden)
        np.testing.assert_allclose(net.position_mean, features.mean(0, keepdim=True), atol=1e-4)
        on_missing, on_golden = net.distance_map(missing), net.distance_map(golden)
        for m in on_missing:
            y, x = np.unravel_index(int(m.argmax()), m.shape)
            assert 2 <= y <= 6 and 9 <= x <= 13, (y, x)  # the print's cells: rows 3-5, columns 10-12
        assert float(on_missing[:, 3:6, 10:13].amin()) > 3 * float(on_golden[:, 3:6, 10:13].amax())
        net.positional = False  # the centre reference of the same network does not single the place out
        centre = net.distance_map(missing)
        assert float(centre[:, 3:6, 10:13].mean()) < 1.5 * float(centre.mean())


def test_map_pixels_find_a_missing_print_the_learned_features_miss() -> None:
    """--map-pixels: each cell's mean standardised pixels join its place's Gaussian.

    The network here is collapsed (its last layer zeroed: every cell the same
    feature, as training towards c tends to make a plain patch and a print
    alike), so only the pixels can show where the print is missing; without
    them the map is flat.
    """
    golden = torch.from_numpy(np.stack([_printed(i) for i in range(12)]))
    missing = torch.from_numpy(np.stack([_printed(100 + i, printed=False) for i in range(3)]))
    maps = {}
    for pixels in (False, True):
        torch.manual_seed(0)
        net = LocalNet(LocalConfig(model_kind="local", map_reference="position", local_context=0, map_pixels=pixels),
                       3, (SIZE, SIZE)).eval()
        torch.nn.init.zeros_(net.body[-1].weight)
        net.fit_position(golden[i : i + 5] for i in range(0, 12, 5))
        with torch.no_grad():
            if pixels:
                cells = torch.nn.functional.avg_pool2d(net.adapter(golden), 4)
                np.testing.assert_allclose(net.pixel_mean, cells.mean(0, keepdim=True), atol=1e-4)
            maps[pixels] = (net.distance_map(missing), net.distance_map(golden))
    assert float(maps[False][0].abs().max()) < 1e-6  # the collapsed features alone see nothing
    on_missing, on_golden = maps[True]
    for m in on_missing:
        y, x = np.unravel_index(int(m.argmax()), m.shape)
        assert 2 <= y <= 6 and 9 <= x <= 13, (y, x)  # the print's cells: rows 3-5, columns 10-12
    assert float(on_missing[:, 3:6, 10:13].amin()) > 10 * float(on_golden[:, 3:6, 10:13].amax())


def test_fit_takes_the_position_reference_when_it_registers_the_parts(parts: np.ndarray) -> None:
    """auto: per place without context blocks, with Deep SAD's loss and the pixels when fit registers the parts, else
    the centre with two blocks and FCDD's loss; set values stay, pixels asked of the centre are one clear error."""
    import dataclasses

    registered = LocalSVDD(dataclasses.replace(_config(1), train=TrainConfig(align="on", augment="none")))
    registered._fit_alignment(parts)
    assert registered.aligner_ is not None
    auto = LocalConfig(model_kind="local", local_width=16)  # reference and context unset
    registered.config = dataclasses.replace(registered.config, local=auto)
    decided = registered._resolve_map(registered.config).local
    assert (decided.map_reference, decided.local_context, decided.local_loss, decided.map_pixels,
            decided.local_regions) == ("position", 0, "sad", True, 0.0)
    unregistered = LocalSVDD(dataclasses.replace(_config(1), local=auto))
    decided = unregistered._resolve_map(unregistered.config).local
    assert (decided.map_reference, decided.local_context, decided.local_loss, decided.map_pixels,
            decided.local_regions) == ("centre", 2, "fcdd", False, None)  # regions: fit trains both maps
    asked = dataclasses.replace(auto, map_pixels=True)
    with pytest.raises(ConfigError, match=r"--map-pixels .* registered parts"):
        unregistered._resolve_map(dataclasses.replace(unregistered.config, local=asked))
    off = dataclasses.replace(auto, map_pixels=False)
    assert registered._resolve_map(dataclasses.replace(registered.config, local=off)).local.map_pixels is False
    explicit = LocalSVDD(FitConfig(local=LocalConfig(model_kind="local", map_reference="centre", local_context=1,
                                                     local_loss="sad")))
    explicit.aligner_ = registered.aligner_
    decided = explicit._resolve_map(explicit.config).local
    assert (decided.map_reference, decided.local_context, decided.local_loss) == ("centre", 1, "sad")  # what was set stays
    small = LocalSVDD(FitConfig(PreprocessConfig(image_size=16), local=auto))
    assert small._resolve_map(small.config).local.local_context == 0  # 4 cells: too small for the blocks


def test_context_blocks_widen_what_each_cell_sees() -> None:
    """--local-context: a change far from a cell reaches its feature only through the dilated blocks; the grid stays."""
    x = torch.full((1, SIZE, SIZE, 1), 120, dtype=torch.uint8)
    far = x.clone()
    far[0, 26:30, 26:30] = 250  # beyond the 27-pixel view of cell (0, 0) without context, within the 75 with two blocks
    seen = []
    for context in (0, 2):
        torch.manual_seed(0)
        net = LocalNet(LocalConfig(model_kind="local", local_context=context, local_input="golden"), 1, (SIZE, SIZE))
        net.eval()
        with torch.no_grad():
            a, b = net.cell_features(x), net.cell_features(far)
        assert a.shape == (1, 32, SIZE // 4, SIZE // 4)
        seen.append(float((a[0, :, 0, 0] - b[0, :, 0, 0]).abs().max()))
    assert seen[0] == 0.0 and seen[1] > 1e-4, seen


def test_loss_pushes_defective_cells_out() -> None:
    dist = torch.ones(1, 4, 4, requires_grad=True)
    masks = torch.zeros(1, 1, 16, 16)
    masks[0, 0, :4, :4] = 1  # the top-left cell
    loss, normal, anomalous = local_loss(dist, masks)
    loss.backward()
    assert dist.grad is not None
    assert dist.grad[0, 0, 0] < 0 < dist.grad[0, 1, 1]  # grow the defective cell's distance, shrink the others
    assert float(normal) == pytest.approx(1.0) and float(anomalous) == pytest.approx(1.0, rel=1e-4)


def test_fcdd_loss_pushes_defective_cells_out_on_the_pseudo_huber_distance() -> None:
    dist = torch.full((1, 4, 4), 3.0, requires_grad=True)  # h = sqrt(3 + 1) - 1 = 1
    masks = torch.zeros(1, 1, 16, 16)
    masks[0, 0, :4, :4] = 1
    loss, normal, anomalous = local_loss(dist, masks, "fcdd")
    loss.backward()
    assert dist.grad is not None
    assert dist.grad[0, 0, 0] < 0 < dist.grad[0, 1, 1]
    assert float(normal) == pytest.approx(1.0) and float(anomalous) == pytest.approx(-np.log(1 - np.exp(-1.0)), rel=1e-5)
    far = local_loss(torch.full((1, 4, 4), 99.0), masks, "fcdd")  # h = 9: the normal part grows linearly, not squared
    assert float(far[1]) == pytest.approx(9.0) and float(far[2]) < 1e-3


def test_masked_defects_mark_only_changed_pixels(parts: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    for _ in range(30):
        out, mask = masked_defect(parts[0], rng, parts)
        changed = np.abs(out.astype(int) - parts[0].astype(int)).max(axis=2) > 0
        assert mask.any() and not (mask & ~changed).any()


def test_region_defects_are_large_blobs_of_another_golden_image(parts: np.ndarray) -> None:
    """--local-regions: a share of the defects are a wide region of another golden part; 0 draws none."""
    rng, areas = np.random.default_rng(3), []
    for i in range(8):
        image = parts[i]
        out, mask = masked_defect(image, rng, parts, regions=1.0)
        changed = np.abs(out.astype(np.int16) - image.astype(np.int16)).max(axis=2)
        areas.append(mask.mean())
        assert changed[mask].mean() >= 8 and changed[~mask].mean() < changed[mask].mean() / 2  # the blob, not the rest
    assert min(areas) > 0.04 and np.mean(areas) > 0.08  # regions, not specks (blends are 0.5 % to 5 % of the part)
    rng = np.random.default_rng(9)  # no share: only the families' small defects, never a region
    assert np.mean([masked_defect(parts[i % 16], rng, parts, regions=0.0)[1].mean() for i in range(24)]) < 0.04


def test_shade_defects_are_wide_soft_changes_of_brightness(parts: np.ndarray) -> None:
    """The opt-in ``shade`` family: a large region darker or brighter by a share of its grey level, not a blend."""
    rng = np.random.default_rng(1)
    base = parts[0].astype(int)
    for _ in range(10):
        out, mask = masked_defect(parts[0], rng, parts, ("shade",))
        ratio = (out.astype(float) + 1) / (base + 1)
        assert mask.mean() > 0.04, mask.mean()  # the other families: specks, lines, blobs of 0.5-5 %
        inside = ratio[mask].ravel()
        assert (inside.min() > 0.99 or inside.max() < 1.01), "one direction: all darker or all brighter"
        assert np.abs(out.astype(int) - base)[~mask].max() <= 20  # outside the mask: nothing visible
    assert FitConfig().local.local_defects == ("blend", "spots", "line")  # shade is opt-in


@pytest.mark.parametrize("calibration", ["none", "position", "image"])
def test_map_head_statistic_is_the_largest_cell(calibration: str) -> None:
    head = MapHead((8, 8), 3, calibration).fit(torch.rand(10, 64) + 0.5)
    flat = torch.rand(3, 64) + 0.5
    flat[1, 27] = 50.0
    stats = head(flat)
    assert torch.allclose(stats, head.map(flat).flatten(1).amax(1))
    assert int(stats.argmax()) == 1


@pytest.mark.parametrize(("change", "says"), [
    ({"preprocess": {"frame_size": 256}}, "frame-size"),
    ({"preprocess": {"image_size": 8}}, "too small"),
    ({"score": {"rule": "knn"}}, "--score"),
    ({"local": {"model_kind": "local", "map_smoothing": 2}}, "odd"),
    ({"local": {"model_kind": "patch"}}, "auto, global, local or both"),
    ({"local": {"model_kind": "local", "local_input": "tile"}}, "golden or image"),
    ({"local": {"model_kind": "local", "local_defects": ["blend", "smudge"]}}, "shade, got blend,smudge"),
    ({"local": {"model_kind": "local", "local_defects": []}}, "got none"),
    ({"local": {"model_kind": "local", "local_defects": ["line", "line"]}}, "distinct"),
    ({"local": {"model_kind": "local", "map_reference": "center"}}, "auto, centre or position"),
    ({"local": {"model_kind": "local", "local_context": 5}}, "0 to 4 dilated blocks"),
    ({"preprocess": {"image_size": 16}, "local": {"model_kind": "local", "local_context": 2}}, "more than 16 pixels"),
    ({"local": {"model_kind": "local", "local_scales": 3}}, "1 or 2"),
    ({"local": {"model_kind": "local", "local_loss": "focal"}}, "auto, sad or fcdd"),
    ({"local": {"model_kind": "local", "local_regions": 1.5}}, "large regions, 0 to 1"),
    ({"preprocess": {"image_size": 68}, "local": {"model_kind": "local", "local_scales": 2}}, "multiple of 8 pixels"),
    ({"preprocess": {"image_size": 24}, "local": {"model_kind": "local", "local_scales": 2}}, "halved input"),
])
def test_bad_local_settings_are_one_clear_error(change: dict[str, dict[str, object]], says: str) -> None:
    values = {"local": {"model_kind": "local"}} | change
    with pytest.raises(ConfigError, match=says):
        FitConfig.from_dict(values)


def test_other_rules_are_refused(fitted: LocalSVDD, parts: np.ndarray) -> None:
    with pytest.raises(ConfigError, match="one scorer"):
        fitted.with_rule(ScoreConfig(rule="knn"), parts)


@pytest.mark.parametrize(("scales", "stage"), [(1, "local"), (2, "local/2")])
def test_an_interrupted_local_fit_resumes_to_the_straight_fit(parts: np.ndarray, tmp_path, monkeypatch, scales: int,
                                                              stage: str) -> None:
    """Augmentation and masked defects on: every random source of the batches must come back with the weights.

    With two scales the fit dies in the second level's training: the first level's finished network comes back too.
    """
    import dataclasses

    from inspect_svdd.model.checkpoint import Checkpoint, fit_key

    cfg = _config(30, context=0 if scales > 1 else 2, scales=scales)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, augment="jitter"))
    straight = detector_for(cfg).fit(parts, progress=False)
    key, path = fit_key(cfg.to_dict(), parts, None), tmp_path / "checkpoint.pt"
    with killed_after_checkpoint(monkeypatch, stage, 20):
        detector_for(cfg).fit(parts, progress=False, checkpoint=Checkpoint(path, key, every=10))
    saved = Checkpoint(path, key, resume=True)
    assert (saved.stage(), saved.saved["epoch"]) == (stage, 20)  # type: ignore[index]
    import inspect_svdd.model.local as local_module

    steps, loss = [], local_module.local_loss
    monkeypatch.setattr(local_module, "local_loss", lambda *a: steps.append(1) or loss(*a))
    resumed = detector_for(cfg).fit(parts, progress=False, checkpoint=saved)
    assert len(steps) == 10  # only the steps after the checkpoint ran
    for (name, a), b in zip(straight.encoder_.state_dict().items(), resumed.encoder_.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert [h["loss"] for h in straight.history_] == [h["loss"] for h in resumed.history_]
    np.testing.assert_array_equal(straight.score(parts), resumed.score(parts))
    fresh = detector_for(cfg).fit(parts, progress=False, checkpoint=Checkpoint(tmp_path / "other.pt", key, every=10))
    assert torch.equal(next(iter(fresh.encoder_.state_dict().values())), next(iter(straight.encoder_.state_dict().values())))


def test_unset_regions_fit_both_maps_keep_one_and_resume_inside_the_second(parts: np.ndarray, tmp_path,
                                                                           monkeypatch) -> None:
    """--local-regions unset, map to c: a map per share, the kept one is the very map a fit of its share gives, the
    comparison is recorded; a fit that dies in the second map resumes there (the first map trained again, unsaved)."""
    import dataclasses

    import inspect_svdd.model.local as local_module
    from inspect_svdd.deploy.info import regions_choice
    from inspect_svdd.model.checkpoint import Checkpoint, fit_key

    cfg = _config(20, regions=None)
    straight = detector_for(cfg).fit(parts, progress=False)
    choice = straight.selection_["local_regions"]
    assert [r["candidate"] for r in sorted(choice["candidates"], key=lambda r: float(r["candidate"]))] == ["0", "0.5"]
    assert choice["chosen"] == straight.config.local.local_regions in local_module.REGION_SHARES
    assert choice["judged_on"]["families"] == ["cutpaste", "dent", "smudge"]  # neither map trains on them
    assert choice["judged_on"]["defects"] >= 2 * choice["judged_on"]["held_out"] > 0
    assert "chosen by fit among 2 maps" in regions_choice(choice)
    one = detector_for(_config(20, regions=choice["chosen"])).fit(parts, progress=False)
    np.testing.assert_array_equal(straight.score(parts), one.score(parts))
    assert straight.stage_prefix == "" and straight.config.local.local_regions is not None  # saved as any fit
    key, path = fit_key(cfg.to_dict(), parts, None), tmp_path / "checkpoint.pt"
    with killed_after_checkpoint(monkeypatch, "regions 0.5/local", 10):
        detector_for(cfg).fit(parts, progress=False, checkpoint=Checkpoint(path, key, every=5))
    steps, loss = [], local_module.local_loss
    monkeypatch.setattr(local_module, "local_loss", lambda *a: steps.append(1) or loss(*a))
    resumed = detector_for(cfg).fit(parts, progress=False, checkpoint=Checkpoint(path, key, resume=True))
    assert len(steps) == 20 + 10  # the first map again, then the second from its checkpoint
    np.testing.assert_array_equal(straight.score(parts), resumed.score(parts))
    assert dataclasses.asdict(resumed.config) == dataclasses.asdict(straight.config)


def test_real_validation_parts_join_the_synthetic_defects_that_judge_the_regions_choice(parts: np.ndarray) -> None:
    """--validate with --local-regions unset: both maps are judged on the real parts and the synthetic ones together
    (each row's AUROC is the held-out golden statistics against the map's statistics of both), and info says so."""
    from sklearn.metrics import roc_auc_score

    from inspect_svdd.deploy.info import regions_choice
    from inspect_svdd.model.local import unseen_defects

    real = np.stack([_with_spot(draw_part(400 + i, size=SIZE), (20 + 4 * i, 30)) for i in range(5)])
    det = detector_for(_config(20, regions=None)).fit(parts, progress=False, validation=real)
    choice = det.selection_["local_regions"]
    synthetic, _ = unseen_defects(det.config, det._split(parts)[1])
    assert choice["judged_on"]["families"] == ["cutpaste", "dent", "real", "smudge"]
    assert choice["judged_on"]["real"] == 5 and choice["judged_on"]["defects"] == 5 + len(synthetic)
    good = np.asarray(det.holdout_["distances"], np.float64)
    bad = det.distances(np.concatenate([real, synthetic]))
    expected = roc_auc_score(np.r_[np.zeros(len(good)), np.ones(len(bad))], np.r_[good, bad])
    assert choice["candidates"][0]["candidate"] == f"{choice['chosen']:g}"
    assert choice["candidates"][0]["auroc"] == pytest.approx(expected, abs=1e-9)
    assert f"{5 + len(synthetic)} defects ({len(synthetic)} synthetic: cutpaste, dent, smudge; 5 real parts from " \
           "--validate)" in regions_choice(choice)


def test_the_golden_statistics_input_exports_with_parity_and_an_older_model_loads_with_it(fitted: LocalSVDD,
                                                                                         parts: np.ndarray,
                                                                                         tmp_path) -> None:
    """Models saved before --local-input, --map-reference, --local-context, --local-loss and --map-pixels lack the keys:
    the settings of then."""
    import json

    from inspect_svdd.deploy.export import export_onnx
    from inspect_svdd.model.artifact import load_model, save_model

    assert fitted.encoder_.adapter.describe()["kind"] == "mean-std"
    assert export_onnx(fitted, tmp_path / "model.onnx", {}, parts[:4]) < 1e-3
    save_model(fitted, tmp_path / "old")
    record = json.loads((tmp_path / "old" / "model.json").read_text())
    del record["config"]["local"]["local_input"]
    assert record["config"]["local"]["map_reference"] == "centre"  # these parts do not register: auto chose c
    del record["config"]["local"]["map_reference"]  # nor the per-place reference: its map was to c
    del record["config"]["local"]["local_context"]  # nor the dilated context blocks
    del record["config"]["local"]["local_loss"]  # nor the loss: Deep SAD's
    del record["config"]["local"]["map_pixels"]  # nor the pixels in the per-place reference
    (tmp_path / "old" / "model.json").write_text(json.dumps(record))
    loaded, _ = load_model(tmp_path / "old")
    assert loaded.config.local.local_input == "golden" and loaded.config.local.map_reference == "centre"
    assert loaded.config.local.local_context == 0 and loaded.config.local.local_loss == "sad"
    assert loaded.config.local.map_pixels is False
    np.testing.assert_array_equal(loaded.score(parts[:4]), fitted.score(parts[:4]))


def test_info_says_a_two_scale_model_averages_the_input_and_the_input_halved() -> None:
    from inspect_svdd.deploy.info import training_text

    one, two = ({"model_kind": "local", "local_batch": 16, "local_scales": n} for n in (1, 2))
    assert "halved" not in training_text({}, {}, one)
    assert "the input and of the input halved averaged" in training_text({}, {}, two)
    assert "4 images per step" in training_text({}, {}, two)
