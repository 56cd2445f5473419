"""The export directory: timestamp names, temp-then-rename, variables, assets and assets.extra."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import load_file

import torch_estimator as te
from torch_estimator.export.writer import export_directory, timestamped_export_dir


class FakeClock:
    """time.time and time.sleep: ``sleep`` advances the clock."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_taken_timestamp_waits_for_the_next_second(tmp_path):
    (tmp_path / "1700000000").mkdir()
    clock = FakeClock(1700000000.7)
    assert timestamped_export_dir(str(tmp_path), clock.time, clock.sleep) == str(tmp_path / "1700000001")
    assert clock.slept == [1]


def test_ten_taken_timestamps_raise(tmp_path):
    clock = FakeClock(1700000000.0)
    for second in range(10):
        (tmp_path / str(1700000000 + second)).mkdir()
    with pytest.raises(
        RuntimeError, match="Failed to obtain a unique export directory name after 10 attempts"
    ):
        timestamped_export_dir(str(tmp_path), clock.time, clock.sleep)


def test_files_appear_under_the_timestamp_only_after_the_block(tmp_path):
    clock = FakeClock(1700000000.0)
    with export_directory(str(tmp_path / "base"), clock.time, clock.sleep) as (temp_dir, final):
        assert os.path.basename(temp_dir).startswith("temp-1700000000-")
        (tmp_path / "base" / os.path.basename(temp_dir) / "file").write_text("x")
        assert os.listdir(tmp_path / "base") == [os.path.basename(temp_dir)]
    assert final == [str(tmp_path / "base" / "1700000000")]
    assert os.listdir(tmp_path / "base") == ["1700000000"]


def test_a_name_taken_during_the_export_moves_to_the_next_second(tmp_path):
    clock = FakeClock(1700000000.0)
    with export_directory(str(tmp_path), clock.time, clock.sleep) as (_, final):
        (tmp_path / "1700000000").mkdir()  # another exporter finished first
    assert final == [str(tmp_path / "1700000001")]


def test_a_failing_export_leaves_only_the_base_directory(make_trained, export_fakes, tmp_path):
    base = tmp_path / "export"
    # assets.extra is copied last, after every program was traced and written.
    with pytest.raises(FileNotFoundError):
        make_trained().export_saved_model(
            str(base), export_fakes.raw_receiver_fn(), assets_extra={"a.txt": str(tmp_path / "missing.txt")}
        )
    assert os.listdir(base) == []


def test_a_model_fn_failing_midway_leaves_only_the_base_directory(make_trained, export_fakes, tmp_path):
    def model_fn(features, labels, mode, params):
        if mode == te.ModeKeys.PREDICT:
            raise RuntimeError("model_fn broke")
        return export_fakes.classifier_model_fn(features, labels, mode, params)

    base = tmp_path / "export"
    with pytest.raises(RuntimeError, match="model_fn broke"):
        make_trained(model_fn).export_saved_model(str(base), export_fakes.raw_receiver_fn())
    assert os.listdir(base) == []


def test_variables_assets_and_assets_extra_are_written(make_trained, export_fakes, tmp_path):
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("setosa\nversicolor\nvirginica\n")
    extra = tmp_path / "notes.txt"
    extra.write_text("hello")

    def model_fn(features, labels, mode, params):
        if mode == te.ModeKeys.PREDICT:
            te.export.add_asset(str(vocabulary))
        return export_fakes.classifier_model_fn(features, labels, mode, params)

    path = make_trained(model_fn).export_saved_model(
        str(tmp_path / "export"), export_fakes.raw_receiver_fn(), assets_extra={"docs/notes.txt": str(extra)}
    )
    assert sorted(os.listdir(path)) == ["assets", "assets.extra", "programs", "saved_model.json", "variables"]
    assert (
        (tmp_path / "export" / os.path.basename(path) / "assets" / "vocab.txt")
        .read_text()
        .startswith("setosa")
    )
    assert (
        tmp_path / "export" / os.path.basename(path) / "assets.extra" / "docs" / "notes.txt"
    ).read_text() == "hello"
    variables = load_file(os.path.join(path, "variables", "variables.safetensors"))
    # The Graph's variables and the global step; the optimizer has no slots to leave out here.
    assert sorted(variables) == ["dense/bias", "dense/kernel", "global_step"]
    assert variables["dense/kernel"].tolist() == [[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]]
    assert int(variables["global_step"]) == 1


def test_assets_extra_destinations_must_stay_inside(make_trained, export_fakes, tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("a")
    with pytest.raises(ValueError, match=r"must be a relative path inside assets.extra"):
        make_trained().export_saved_model(
            str(tmp_path / "export"), export_fakes.raw_receiver_fn(), assets_extra={"../a.txt": str(source)}
        )
    assert os.listdir(tmp_path / "export") == []


def test_exports_run_on_the_cpu_in_full_precision(make_trained, export_fakes, tmp_path):
    seen = []

    def model_fn(features, labels, mode, params, config):
        seen.append((config.device, config.precision, features["x"].dtype))
        return export_fakes.classifier_model_fn(features, labels, mode, params)

    estimator = make_trained(model_fn)
    seen.clear()
    estimator.export_saved_model(str(tmp_path / "export"), export_fakes.raw_receiver_fn())
    assert set(seen) == {("cpu", "32", torch.float32)}
