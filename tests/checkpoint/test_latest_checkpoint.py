"""latest_checkpoint: the newest valid checkpoint in the state file, falling back with a warning."""

from __future__ import annotations

import json
import logging
import os

import torch

from torch_estimator.checkpoint import (
    Saver,
    global_step_of,
    latest_checkpoint,
    load_checkpoint,
    write_checkpoint,
)


class Store:
    """A stand-in for a Graph: one tensor holding the step, and the step itself."""

    def __init__(self, step: int = 0) -> None:
        self.step = step

    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        return {"w": torch.full((8,), float(self.step)), "global_step": torch.tensor(self.step)}

    def restore_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.step = int(tensors["global_step"])


def _save_steps(model_dir, steps) -> list[str]:
    saver = Saver()
    return [saver.save(Store(step), os.path.join(str(model_dir), "model.ckpt"), step) for step in steps]


def test_no_state_file_is_none(tmp_path):
    assert latest_checkpoint(str(tmp_path)) is None
    assert global_step_of(str(tmp_path)) == 0


def test_returns_model_dir_joined_prefix_of_newest(tmp_path):
    _save_steps(tmp_path, [1, 2, 3])
    assert latest_checkpoint(str(tmp_path)) == os.path.join(str(tmp_path), "model.ckpt-3")
    assert global_step_of(str(tmp_path)) == 3


def test_truncated_newest_falls_back_with_a_warning(tmp_path, caplog):
    paths = _save_steps(tmp_path, [1, 2, 3])
    os.truncate(paths[-1] + ".safetensors", 20)
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        assert latest_checkpoint(str(tmp_path)) == paths[1]
    assert "model.ckpt-3" in caplog.text and "truncated" in caplog.text
    assert load_checkpoint(paths[1]).global_step == 2
    assert global_step_of(str(tmp_path)) == 2


def test_corrupt_json_falls_back_with_a_warning(tmp_path, caplog):
    paths = _save_steps(tmp_path, [1, 2])
    with open(paths[-1] + ".json", "w") as f:
        f.write('{"format": "torch_estimator.checkpoint", "glob')  # cut mid-write
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        assert latest_checkpoint(str(tmp_path)) == paths[0]
    assert "model.ckpt-2" in caplog.text


def test_missing_files_fall_back_over_several_checkpoints(tmp_path, caplog):
    paths = _save_steps(tmp_path, [1, 2, 3])
    os.remove(paths[2] + ".safetensors")
    os.remove(paths[1] + ".json")
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        assert latest_checkpoint(str(tmp_path)) == paths[0]
    assert "model.ckpt-3" in caplog.text and "model.ckpt-2" in caplog.text


def test_checksum_mismatch_falls_back(tmp_path, caplog):
    paths = _save_steps(tmp_path, [1, 2])
    with open(paths[-1] + ".json") as f:
        index = json.load(f)
    index["tensor_file_crc32"] ^= 1
    with open(paths[-1] + ".json", "w") as f:
        json.dump(index, f)
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        assert latest_checkpoint(str(tmp_path)) == paths[0]
    assert "checksum" in caplog.text


def test_nothing_valid_is_none(tmp_path, caplog):
    paths = _save_steps(tmp_path, [1])
    os.remove(paths[0] + ".json")
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        assert latest_checkpoint(str(tmp_path)) is None
    assert global_step_of(str(tmp_path)) == 0


def test_absolute_paths_written_by_other_tools_are_read(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    write_checkpoint(str(other / "model.ckpt-4"), {"w": torch.ones(1)}, global_step=4)
    (tmp_path / "checkpoint").write_text(
        f'model_checkpoint_path: "{other}/model.ckpt-4"\nall_model_checkpoint_paths: "{other}/model.ckpt-4"\n'
    )
    assert latest_checkpoint(str(tmp_path)) == str(other / "model.ckpt-4")


def test_temp_files_of_a_killed_writer_are_ignored(tmp_path):
    paths = _save_steps(tmp_path, [1])
    (tmp_path / "model.ckpt-2.safetensors.tmp-999999999-abcd").write_bytes(b"partial")
    (tmp_path / "checkpoint.tmp-999999999-abcd").write_text('model_checkpoint_path: "model.ckpt-2"\n')
    assert latest_checkpoint(str(tmp_path)) == paths[0]
