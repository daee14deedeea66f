"""Tiling: frames cut into network-sized tiles, the worst tile decides; and the hybrid objective."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from inspect_svdd.config import FitConfig, PreprocessConfig, ScoreConfig, TrainConfig
from inspect_svdd.errors import ConfigError
from inspect_svdd.io.preprocess import preprocess
from inspect_svdd.model.detector import DeepSVDD
from inspect_svdd.model.nets import to_tiles, worst_tile
from tests.conftest import draw_part

FAST = TrainConfig(ae_min_steps=0, min_steps=0, ae_epochs=1, epochs=2, augment_factor=1, batch_size=8)


def test_tiles_are_cut_row_major_and_the_worst_one_is_kept() -> None:
    frames = torch.arange(2 * 8 * 8 * 1, dtype=torch.int64).reshape(2, 8, 8, 1)
    tiles = to_tiles(frames, 4)
    assert tiles.shape == (8, 4, 4, 1)
    assert torch.equal(tiles[1], frames[0, 0:4, 4:8])  # first frame, top right
    assert torch.equal(tiles[2], frames[0, 4:8, 0:4])  # first frame, bottom left
    assert torch.equal(tiles[7], frames[1, 4:8, 4:8])
    assert to_tiles(frames, 8) is frames
    stats = torch.tensor([1.0, 5.0, 2.0, 0.0, 3.0, 3.0, 9.0, 1.0])
    assert worst_tile(stats, 4).tolist() == [5.0, 9.0]


def test_frame_must_be_a_multiple_of_the_tile() -> None:
    with pytest.raises(ConfigError, match="128-pixel tiles do not fit a 300-pixel frame"):
        PreprocessConfig(frame_size=300)
    with pytest.raises(ConfigError, match="do not fit"):
        PreprocessConfig(frame_size=64)
    cfg = PreprocessConfig(frame_size=256, channels=3)
    assert (cfg.input_size, cfg.tiles) == (256, 4)
    assert preprocess(draw_part(0, size=300), cfg).shape == (256, 256, 3)
    assert (PreprocessConfig().input_size, PreprocessConfig().tiles) == (128, 1)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    cfg = PreprocessConfig(frame_size=256, channels=3)
    return np.stack([preprocess(draw_part(i, size=256), cfg) for i in range(12)])


@pytest.fixture(scope="module")
def tiled(frames: np.ndarray) -> DeepSVDD:
    cfg = FitConfig(PreprocessConfig(frame_size=256, channels=3), train=FAST, score=ScoreConfig(rule="knn"))
    return DeepSVDD(cfg).fit(frames, progress=False)


def test_a_tiled_model_scores_each_frame_by_its_worst_tile(tiled: DeepSVDD, frames: np.ndarray) -> None:
    emb = tiled.embeddings(frames[:3])
    assert emb.shape == (12, 512)  # 3 frames x 4 tiles
    per_tile = tiled.with_rule(tiled.config.score, frames)  # same rule, same images: same head
    with torch.no_grad():
        tile_stats = per_tile.head_(emb).reshape(3, 4).numpy()  # type: ignore[misc]
    np.testing.assert_allclose(tiled.distances(frames[:3]), tile_stats.max(axis=1), rtol=1e-6)
    assert tiled.score(frames).shape == (12,)
    assert tiled.holdout_["count"] == 5 and len(tiled.holdout_["distances"]) == 5  # per frame, not per tile


def test_a_defect_in_one_tile_raises_that_frame_only(tiled: DeepSVDD, frames: np.ndarray) -> None:
    damaged = frames[:4].copy()
    damaged[:, 20:60, 150:250] = 255  # a bright bar inside the top-right tile
    before, after = tiled.distances(frames[:4]), tiled.distances(damaged)
    assert (after > 2 * before).all()


def test_tiling_refuses_real_defects_and_wrong_frames(frames: np.ndarray) -> None:
    det = DeepSVDD(FitConfig(PreprocessConfig(frame_size=256, channels=3), train=FAST))
    with pytest.raises(ConfigError, match="tiled model"):
        det.fit(frames, progress=False, defects=frames[:2])
    with pytest.raises(ConfigError, match="256, 256, 3"):
        det.fit(frames[:, :128, :128], progress=False)


def _fit(recon_weight: float) -> DeepSVDD:
    images = np.stack([draw_part(i) for i in range(12)])
    train = dataclasses.replace(FAST, recon_weight=recon_weight)
    return DeepSVDD(FitConfig(PreprocessConfig(channels=3), train=train)).fit(images, progress=False)


def test_hybrid_objective_adds_the_reconstruction_error_and_changes_the_encoder() -> None:
    plain, hybrid = _fit(0.0), _fit(1.0)
    assert "recon_loss" not in plain.history_[-1]
    assert 0 < hybrid.history_[-1]["recon_loss"] < hybrid.history_[-1]["loss"]  # the loss holds the reconstruction term
    assert plain.encoder_ is not None and hybrid.encoder_ is not None
    assert not torch.equal(plain.encoder_.fc.weight, hybrid.encoder_.fc.weight)  # the decoder's gradient reached it
    with pytest.raises(ConfigError, match="reconstruction weight"):
        TrainConfig(recon_weight=-1)


@pytest.mark.parametrize("architecture", ["strided", "pooled"])
def test_stage_features_pool_every_stage(architecture: str) -> None:
    from inspect_svdd.config import NetConfig
    from inspect_svdd.model.nets import Encoder

    cfg = NetConfig(architecture=architecture, widths=(8, 16, 16, 16, 16))
    encoder = Encoder(cfg, channels=1, image_size=128).eval()
    x = torch.from_numpy(np.stack([draw_part(i)[:, :, :1] for i in range(3)]))
    feats = encoder.stage_features(x)
    assert feats.shape == (3, 2 * 72) == (3, encoder.feature_dim("stages"))
    first = encoder.features[: len(encoder.features) // 5](encoder.adapter(x))  # the first stage's output
    torch.testing.assert_close(feats[:, :8], first.mean(dim=(2, 3)))
    torch.testing.assert_close(feats[:, 8:16], first.amax(dim=(2, 3)))
    torch.testing.assert_close(encoder.features_of(x, "embedding"), encoder(x))
    both = encoder.features_of(x, "both")
    assert both.shape == (3, encoder.feature_dim("both")) == (3, 2 * 72 + 512)
    torch.testing.assert_close(both, torch.cat([feats, encoder(x)], dim=1))


def test_stage_feature_rules_score_standardised_features_and_round_trip(tmp_path: object) -> None:
    from pathlib import Path

    from inspect_svdd.config import ScoreConfig
    from inspect_svdd.model.artifact import load_model, save_model

    images = np.stack([draw_part(i) for i in range(12)])
    cfg = FitConfig(PreprocessConfig(channels=3), train=FAST, score=ScoreConfig("knn", k=3, features="stages"))
    det = DeepSVDD(cfg).fit(images, progress=False)
    assert det.head_ is not None and det.head_.bank.shape == (7, 2 * sum(cfg.net.widths))
    assert abs(float(det.head_.bank.std(dim=0).median()) - 1) < 0.2  # standardised on the golden images
    center = det.with_rule(ScoreConfig("center", features="stages"), images)  # the centre rule keeps the embedding
    assert center.embeddings(images[:2]).shape == (2, 512)
    save_model(det, Path(str(tmp_path)) / "m")
    again = load_model(Path(str(tmp_path)) / "m")[0]
    np.testing.assert_array_equal(again.score(images), det.score(images))
