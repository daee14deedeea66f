"""Augmentation: presets, albumentations' own file format, determinism, the augment command."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from inspect_svdd.cli import main
from inspect_svdd.config import DEFECT_PRESETS
from inspect_svdd.errors import ConfigError
from inspect_svdd.model.augment import PRESETS, apply, build_pipeline, dump_pipeline, expand, load_pipeline_file
from tests.conftest import draw_part, write_rgb


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("name", PRESETS + DEFECT_PRESETS)
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_presets_round_trip_through_albumentations_files(tmp_path: Path, name: str, fmt: str) -> None:
    path = tmp_path / f"{name}.{fmt}"
    dump_pipeline(name, path)
    image = draw_part(0)
    a = [apply(build_pipeline(name, seed=3), image) for _ in range(1)]
    b = [apply(load_pipeline_file(path, seed=3), image) for _ in range(1)]
    np.testing.assert_array_equal(a[0], b[0])
    assert ("__class_fullname__" in path.read_text()) and ("Compose" in path.read_text())


@pytest.mark.parametrize("channels", [1, 3])
def test_presets_keep_shape_and_change_pixels(channels: int) -> None:
    image = draw_part(1)[..., :channels] if channels == 3 else cv2.cvtColor(draw_part(1), cv2.COLOR_RGB2GRAY)[..., None]
    for name in ("photometric", "jitter"):
        out = apply(build_pipeline(name, seed=0), image)
        assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(apply(build_pipeline("none", seed=0), image), image)
    views = [apply(build_pipeline("jitter", seed=s), image) for s in range(6)]
    assert any(not np.array_equal(v, image) for v in views)


def test_photometric_keeps_geometry() -> None:
    image = np.zeros((128, 128, 1), np.uint8)
    image[40:80, 40:80] = 200
    for seed in range(5):
        out = apply(build_pipeline("photometric", seed=seed), image).astype(int)
        inside, outside = out[45:75, 45:75].mean(), out[:30, :30].mean()
        assert inside > outside + 100  # the square did not move


def test_unknown_preset_and_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown augmentation 'wobble'"):
        build_pipeline("wobble")
    bad = tmp_path / "bad.yaml"
    bad.write_text("just: text\n")
    with pytest.raises(ConfigError, match="not an albumentations pipeline file"):
        build_pipeline(str(bad))
    with pytest.raises(ConfigError, match="augmentation file not found"):
        build_pipeline(str(tmp_path / "missing.json"))


def test_expand_keeps_originals_first() -> None:
    images = np.stack([draw_part(0), draw_part(1)])
    grown = expand(images, build_pipeline("jitter", 0), 7, seed=0)
    assert grown.shape == (7, 128, 128, 3)
    np.testing.assert_array_equal(grown[:2], images)
    np.testing.assert_array_equal(grown, expand(images, build_pipeline("jitter", 0), 7, seed=0))


def _golden(root: Path) -> Path:
    write_rgb(root / "part_000.png", draw_part(0))
    write_rgb(root / "sub" / "part_001.png", draw_part(1))
    cv2.imwrite(str(root / "gray_002.png"), cv2.cvtColor(draw_part(2), cv2.COLOR_RGB2GRAY))
    (root / "broken.png").write_bytes(b"")
    return root


@pytest.mark.parametrize("name", DEFECT_PRESETS)
@pytest.mark.parametrize("channels", [1, 3])
def test_synthetic_defects_are_local_seeded_and_varied(name: str, channels: int) -> None:
    image = draw_part(2) if channels == 3 else cv2.cvtColor(draw_part(2), cv2.COLOR_RGB2GRAY)[..., None]
    views = [apply(build_pipeline(name, seed=s), image) for s in range(20)]
    changed = [float(np.mean(np.any(v != image, axis=2))) for v in views]
    assert all(v.shape == image.shape and v.dtype == np.uint8 for v in views)
    assert min(changed) > 0 and max(changed) < 0.3  # a local defect, never a new image
    assert len({round(c, 4) for c in changed}) > 10  # size and place vary
    np.testing.assert_array_equal(apply(build_pipeline(name, seed=7), image), apply(build_pipeline(name, seed=7), image))


def test_scar_is_thin_and_cutpaste_is_a_patch() -> None:
    image = np.random.default_rng(0).integers(0, 256, (128, 128, 1), dtype=np.uint8)  # texture: every paste shows
    scar = np.mean([np.mean(apply(build_pipeline("scar", seed=s), image) != image) for s in range(20)])
    patch = np.mean([np.mean(apply(build_pipeline("cutpaste", seed=s), image) != image) for s in range(20)])
    assert 0.001 < scar < 0.02 < patch < 0.2


def test_augment_command_is_deterministic_and_traceable(tmp_path: Path) -> None:
    golden = _golden(tmp_path / "golden")
    runner = CliRunner()
    for out in ("a", "b"):
        result = runner.invoke(main, ["augment", str(golden), "-o", str(tmp_path / out), "-n", "3", "--seed", "5"])
        assert result.exit_code == 0, result.output
        assert f"skipped: {golden / 'broken.png'}: file is empty (0 bytes)" in result.stderr
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "part_000_aug003.png" in names and "sub__part_001_aug001.png" in names and "manifest.csv" in names
    assert len(names) == 3 * 3 + 1
    rows = list(csv.DictReader((tmp_path / "a" / "manifest.csv").open()))
    assert len(rows) == 9 and rows[0]["source"] == "gray_002.png" and rows[0]["output"] == "gray_002_aug001.png"
    assert len({r["seed"] for r in rows}) == 9
    gray = cv2.imread(str(tmp_path / "a" / "gray_002_aug001.png"), cv2.IMREAD_UNCHANGED)
    assert gray.ndim == 2  # grayscale stays grayscale
    sheet = cv2.imread(str(tmp_path / "a_preview.png"))
    assert sheet is not None and sheet.shape[0] > 3 * 128 and sheet.shape[1] == 4 * 132 + 4
    other = runner.invoke(main, ["augment", str(golden), "-o", str(tmp_path / "c"), "-n", "3", "--seed", "6"])
    assert other.exit_code == 0 and _digest(tmp_path / "c") != _digest(tmp_path / "a")


def test_augment_refuses_to_overwrite(tmp_path: Path) -> None:
    golden = _golden(tmp_path / "golden")
    runner = CliRunner()
    assert runner.invoke(main, ["augment", str(golden), "-o", str(tmp_path / "a"), "-n", "1"]).exit_code == 0
    again = runner.invoke(main, ["augment", str(golden), "-o", str(tmp_path / "a"), "-n", "1"])
    assert again.exit_code == 2 and "would overwrite" in again.stderr and "--overwrite" in again.stderr
    forced = runner.invoke(main, ["augment", str(golden), "-o", str(tmp_path / "a"), "-n", "1", "--overwrite"])
    assert forced.exit_code == 0


def test_dump_preset_then_fit_uses_the_file(tmp_path: Path) -> None:
    runner = CliRunner()
    preset = tmp_path / "jitter.yaml"
    assert runner.invoke(main, ["augment", "-o", str(preset), "--dump-preset", "jitter"]).exit_code == 0
    for i in range(10):
        write_rgb(tmp_path / "golden" / f"{i}.png", draw_part(i))
    result = runner.invoke(main, ["fit", str(tmp_path / "golden"), "-o", str(tmp_path / "m"), "--augment", str(preset),
                                  "--ae-epochs", "1", "--epochs", "1", "--ae-min-steps", "0", "--min-steps", "0",
                                  "--augment-factor", "1", "--no-onnx", "-q"])
    assert result.exit_code == 0, result.output
    assert str(preset) in (tmp_path / "m" / "model.json").read_text()


def test_same_name_with_two_extensions_gives_two_sets_of_copies(tmp_path: Path) -> None:
    from inspect_svdd.model.augment_folder import augment_folder

    write_rgb(tmp_path / "in" / "a.png", draw_part(1))
    write_rgb(tmp_path / "in" / "a.jpg", draw_part(2))
    result = augment_folder(tmp_path / "in", tmp_path / "out", copies=2, seed=0)
    names = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert names == ["a_jpg_aug001.png", "a_jpg_aug002.png", "a_png_aug001.png", "a_png_aug002.png"]
    assert len(result.written) == 4
