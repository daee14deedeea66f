"""Config round trip and validation."""

from __future__ import annotations

import json

import pytest

from inspect_svdd.config import FitConfig, LocalConfig, NetConfig, PreprocessConfig, ScoreConfig, TrainConfig
from inspect_svdd.errors import ConfigError


def test_round_trip_through_json() -> None:
    cfg = FitConfig(PreprocessConfig(channels=3, roi=(1, 2, 30, 40)), NetConfig(rep_dim=64),
                    TrainConfig(lr_milestones=(5, 9), objective="soft-boundary", seed=7))
    again = FitConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown TrainConfig settings: warp"):
        FitConfig.from_dict({"train": {"warp": 9}})


@pytest.mark.parametrize("kwargs", [{"objective": "two-class"}, {"nu": 0}, {"target_frr": 1.0}, {"holdout": 1.0},
                                    {"holdout": -0.1}, {"epochs": 0}, {"ae_loss": "sum"}, {"radius_rule": "max"},
                                    {"radius_views": -1}, {"anomalies": "confetti"}, {"anomaly_ratio": 1.0},
                                    {"eta": 0}, {"augment": "cutpaste"}])
def test_bad_training_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"rule": "cosine"}, {"k": 0}])
def test_bad_score_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ScoreConfig(**kwargs)  # type: ignore[arg-type]


def test_score_settings_round_trip_and_reject_unknown_keys() -> None:
    cfg = FitConfig(score=ScoreConfig("mahalanobis", k=3))
    assert FitConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError, match="unknown ScoreConfig settings: shrinkage"):
        FitConfig.from_dict({"score": {"shrinkage": 0.1}})


def test_image_size_must_fit_the_network_stages() -> None:
    with pytest.raises(ConfigError, match="multiple of 32 for 5 network stages"):
        FitConfig(PreprocessConfig(image_size=112), local=LocalConfig(model_kind="global"))
    paper = FitConfig(PreprocessConfig(image_size=28), NetConfig(architecture="pooled", widths=(8, 4), rep_dim=32))
    assert paper.preprocess.image_size == 28


def test_unknown_input_normalisation_is_rejected() -> None:
    with pytest.raises(ConfigError, match="input normalisation"):
        NetConfig(input_norm="zscore")  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"decoder": "mirrored"}, {"decoder": "upsample"},
                                    {"decoder": "upsample", "input_norm": "gcn-l1-minmax", "rep_dim": 40},
                                    {"code_norm": True}, {"init": "he"}, {"first_filters": "pca"}])
def test_bad_decoder_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=r"decoder|init|first_filters"):
        NetConfig(**kwargs)  # type: ignore[arg-type]
