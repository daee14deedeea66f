"""Pollution in recipes: planted anomalies in the training set, and how screening's recall is counted."""

from __future__ import annotations

import numpy as np

from inspect_svdd.bench.data import LabelledSet, Split, pollute_from_test, pollute_with_classes, validation_from_test
from inspect_svdd.bench.runner import screening_figures


def _split() -> Split:
    train = np.zeros((95, 4, 4, 1), np.uint8)
    test = np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1) * np.ones((1, 4, 4, 1), np.uint8)
    anomalous = np.arange(40) >= 10
    return Split(train, test, anomalous, ["good" if not a else "crack" for a in anomalous], {"test_count": 40})


def test_defects_move_from_the_test_set_into_training() -> None:
    split = pollute_from_test(_split(), 0.05, seed=0)
    assert split.planted is not None and len(split.planted) == 5  # 5 of 100: the rate of the polluted set
    planted = split.train[split.planted]
    assert (planted[:, 0, 0, 0] >= 10).all()  # every planted image is a defect
    assert len(split.test) == 35 and split.test_anomalous.sum() == 25 and len(split.test_groups) == 35
    assert not set(planted[:, 0, 0, 0]) & set(split.test[:, 0, 0, 0])  # moved, not copied
    assert split.facts["pollution"]["count"] == 5


def test_validation_defects_are_drawn_out_of_the_test_set() -> None:
    split = _split()
    drawn = validation_from_test(split, 6, seed=0)
    assert len(drawn) == 6 and (drawn[:, 0, 0, 0] >= 10).all()  # defects only
    assert len(split.test) == 34 and split.test_anomalous.sum() == 24 and split.facts["validation_count"] == 6
    assert not set(drawn[:, 0, 0, 0]) & set(split.test[:, 0, 0, 0])  # never scored as test images too
    np.testing.assert_array_equal(drawn, validation_from_test(_split(), 6, seed=0))  # seeded
    assert len(validation_from_test(_split(), 100, seed=0)) == 29  # one defect always stays to test on


def test_other_classes_are_mixed_in() -> None:
    labels = np.repeat(np.arange(10), 20)
    data = LabelledSet(labels.reshape(-1, 1, 1, 1).astype(np.uint8) * np.ones((1, 4, 4, 1), np.uint8), labels,
                       np.zeros((5, 4, 4, 1), np.uint8), np.zeros(5, int), [str(i) for i in range(10)])
    split = Split(data.train[labels == 3], data.test, np.zeros(5, bool), ["3"] * 5, {})
    split = pollute_with_classes(split, data, 3, 0.1, seed=1)
    assert split.planted is not None and len(split.planted) == 2  # 2 beside 20 normal ones, about 10 %
    assert (split.train[split.planted][:, 0, 0, 0] != 3).all()


def test_screening_recall_and_precision() -> None:
    record = {"suspects": [5, 7, 9], "before_drop": {"suspects": [5, 7, 9, 11]}, "dropped": [5, 7, 9, 11]}
    figures = screening_figures(record, np.array([5, 11, 20]))
    assert figures["found"] == 2 and figures["recall"] == 2 / 3 and figures["precision"] == 2 / 4
    assert screening_figures({"suspects": []}, np.array([1]))["recall"] == 0


def _doc(setting: str, pollution: float, aurocs: list[float], escape: float, found: int = 0) -> dict:
    runs = [{"case": str(i), "seed": 0, "auroc": a, "test_escape_rate": escape,
             **({"screening": {"planted": 4, "found": found, "suspects": 8}} if pollution else {})}
            for i, a in enumerate(aurocs)]
    return {"recipe": "mnist", "size": "sweep", "setting": setting, "pollution": pollution, "runs": runs}


def test_a_sweep_has_a_row_per_setting_and_a_column_per_rate() -> None:
    import pytest

    from inspect_svdd.bench.runner import RunOptions, results_stem
    from inspect_svdd.bench.sweep import sweep_markdown
    from inspect_svdd.errors import DatasetError

    assert results_stem("mnist", RunOptions("paper", "sweep", pollution=0.05)) == "mnist-paper-sweep-pollution-5"
    assert results_stem("mnist", RunOptions("paper", "sweep")) == "mnist-paper-sweep"
    docs = [("a", _doc("paper", 0.0, [0.9, 0.8], 0.5)), ("b", _doc("paper", 0.05, [0.7, 0.6], 0.6, found=2)),
            ("c", _doc("paper-rcae", 0.05, [0.95, 0.85], 0.25, found=3))]
    text = sweep_markdown(docs)
    assert "| setting | 0 % | 5 % |" in text
    assert "| paper | 85.0 / 50.0 | 65.0 / 60.0 |" in text
    assert "| paper-rcae |  | 90.0 / 25.0 |" in text
    assert "| paper |  | 4 of 8 (50%), precision 25% |" in text
    with pytest.raises(DatasetError, match="given twice"):
        sweep_markdown([*docs, ("d", _doc("paper", 0.05, [0.5], 0.1))])
    with pytest.raises(DatasetError, match="one recipe at one size"):
        sweep_markdown([*docs, ("e", {**_doc("x", 0.1, [0.5], 0.1), "size": "full"})])


def test_a_sweep_renames_a_setting_that_fixes_its_own_rate() -> None:
    from inspect_svdd.bench.sweep import sweep_markdown

    docs = [("a", _doc("toolkit", 0.0, [0.9], 0.5)), ("b", _doc("pollution-5", 0.05, [0.7], 0.6, found=2))]
    setting_rate = {**_doc("pollution-5", 0.05, [0.7], 0.6, found=2), "pollution": None}  # the rate in the setting
    setting_rate["runs"] = [{**r, "pollution": {"rate": 0.05, "count": 4}} for r in setting_rate["runs"]]
    docs[1] = ("b", setting_rate)
    text = sweep_markdown(docs, {"pollution-5": "toolkit"})
    assert "| toolkit | 90.0 / 50.0 | 70.0 / 60.0 |" in text and "`pollution-5` as `toolkit`" in text
    assert "| pollution-5 |" not in text
    assert "| pollution-5 |" in sweep_markdown(docs)


def test_a_sweep_shows_what_screening_dropped_from_a_clean_folder() -> None:
    from inspect_svdd.bench.runner import screening_figures
    from inspect_svdd.bench.sweep import sweep_markdown

    clean = screening_figures({"suspects": [4, 9], "before_drop": {"suspects": [4, 9]}, "dropped": [4, 9]}, np.array([]))
    assert clean["planted"] == 0 and clean["dropped"] == 2
    doc = _doc("drop", 0.0, [0.9], 0.4)
    doc["runs"][0]["screening"] = clean
    text = sweep_markdown([("a", doc), ("b", _doc("drop", 0.05, [0.8], 0.5, found=2))])
    assert "| drop | none planted, 2 dropped | 2 of 4 (50%), precision 25% |" in text


def test_sweep_rename_needs_two_names(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from inspect_svdd.cli.common import main

    f = tmp_path / "r.json"
    f.write_text(json.dumps(_doc("toolkit", 0.0, [0.9], 0.5)))
    result = CliRunner().invoke(main, ["recipe", "sweep", str(f), "--rename", "pollution-5"])
    assert result.exit_code == 2 and "--rename pollution-5: expected OLD=NEW" in result.output
    assert "Traceback" not in result.output
