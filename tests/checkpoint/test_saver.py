"""te.train.Saver: save / restore a Graph, max_to_keep, keep-every-N-hours, state continued across runs."""

from __future__ import annotations

import os
import random
import shutil

import numpy as np
import pytest
import torch

from torch_estimator.checkpoint import (
    CheckpointNotFoundError,
    Saver,
    get_checkpoint_state,
    latest_checkpoint,
    load_checkpoint,
)
from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph, get_or_create_global_step, get_variable
from torch_estimator.train import Optimizer


def _base(model_dir) -> str:
    return os.path.join(str(model_dir), "model.ckpt")


def _files(model_dir) -> list[str]:
    return sorted(name for name in os.listdir(model_dir) if name.endswith(".safetensors"))


def _listed(model_dir) -> list[str]:
    state = get_checkpoint_state(str(model_dir))
    return [os.path.basename(path) for path in state.all_model_checkpoint_paths]


def test_save_then_restore_into_a_fresh_graph(tmp_path, make_graph):
    path = Saver().save(make_graph(kernel=1.5, bias=-2.0, step=7), _base(tmp_path), global_step=7)
    assert path == os.path.join(str(tmp_path), "model.ckpt-7")
    fresh = make_graph()
    checkpoint = Saver().restore(fresh, path)
    assert checkpoint.global_step == 7
    assert fresh.find_variable("dense/kernel").tolist() == [[1.5, 1.5]] * 3
    assert fresh.find_variable("dense/bias").tolist() == [-2.0, -2.0]
    assert int(fresh.find_variable("global_step")) == 7


def test_state_file_text_after_two_saves(tmp_path, make_graph, clock):
    saver = Saver(clock=clock)  # constructed at t=0: last_preserved_timestamp = -1.0 (TF: clock - 1)
    clock.now = 100.0
    saver.save(make_graph(), _base(tmp_path), 1)
    clock.now = 250.5
    saver.save(make_graph(), _base(tmp_path), 2)
    assert (tmp_path / "checkpoint").read_text() == (
        'model_checkpoint_path: "model.ckpt-2"\n'
        'all_model_checkpoint_paths: "model.ckpt-1"\n'
        'all_model_checkpoint_paths: "model.ckpt-2"\n'
        "all_model_checkpoint_timestamps: 100.0\n"
        "all_model_checkpoint_timestamps: 250.5\n"
        "last_preserved_timestamp: -1.0\n"
    )


def test_sixth_save_deletes_the_oldest(tmp_path, make_graph):
    saver = Saver(max_to_keep=5)
    for step in range(1, 7):
        saver.save(make_graph(step=step), _base(tmp_path), step)
    expected = [f"model.ckpt-{step}" for step in range(2, 7)]
    assert _listed(tmp_path) == expected
    assert _files(tmp_path) == sorted(name + ".safetensors" for name in expected)
    assert not (tmp_path / "model.ckpt-1.json").exists()
    assert [os.path.basename(p) for p in saver.last_checkpoints] == expected


def test_max_to_keep_zero_keeps_every_file_but_lists_only_the_latest(tmp_path, make_graph):
    saver = Saver(max_to_keep=0)
    for step in range(1, 8):
        saver.save(make_graph(), _base(tmp_path), step)
    assert len(_files(tmp_path)) == 7
    assert _listed(tmp_path) == ["model.ckpt-7"]
    assert saver.last_checkpoints == []


def test_max_to_keep_none_behaves_like_zero(tmp_path, make_graph):
    saver = Saver(max_to_keep=None)
    for step in range(1, 4):
        saver.save(make_graph(), _base(tmp_path), step)
    assert len(_files(tmp_path)) == 3 and _listed(tmp_path) == ["model.ckpt-3"]


def test_keep_checkpoint_every_n_hours_with_a_fake_clock(tmp_path, make_graph, clock):
    """max_to_keep=2, N=1 hour, saves every 20 minutes; the Saver is made at t=0 (preserved = -1).

    Checkpoint k is saved at t=1200k. When k is pushed out of the list it is kept iff
    t_k - 3600 >= last_preserved:
      k=1 (1200): -2400 >= -1 no -> deleted     k=2 (2400): -1200 >= -1 no -> deleted
      k=3 (3600):     0 >= -1 yes -> kept, preserved = 3600
      k=4 (4800):  1200 >= 3600 no -> deleted   k=5 (6000): 2400 >= 3600 no -> deleted
      k=6 (7200):  3600 >= 3600 yes -> kept, preserved = 7200
    After 8 saves: files 3, 6, 7, 8; the state lists 7, 8 and last_preserved_timestamp 7200.
    """
    saver = Saver(max_to_keep=2, keep_checkpoint_every_n_hours=1, clock=clock)
    for step in range(1, 9):
        clock.now = 1200.0 * step
        saver.save(make_graph(), _base(tmp_path), step)
    assert _files(tmp_path) == [f"model.ckpt-{k}.safetensors" for k in (3, 6, 7, 8)]
    state = get_checkpoint_state(str(tmp_path))
    assert _listed(tmp_path) == ["model.ckpt-7", "model.ckpt-8"]
    assert state.all_model_checkpoint_timestamps == [8400.0, 9600.0]
    assert state.last_preserved_timestamp == 7200.0


def test_resaving_a_step_overwrites_it_and_moves_it_last(tmp_path, make_graph):
    saver = Saver(max_to_keep=5)
    for step in (1, 2, 3):
        saver.save(make_graph(kernel=step), _base(tmp_path), step)
    saver.save(make_graph(kernel=20.0), _base(tmp_path), 2)
    assert _listed(tmp_path) == ["model.ckpt-1", "model.ckpt-3", "model.ckpt-2"]
    assert latest_checkpoint(str(tmp_path)).endswith("model.ckpt-2")
    assert load_checkpoint(_base(tmp_path) + "-2").tensors["dense/kernel"][0, 0].item() == 20.0


def test_a_new_saver_continues_the_state_files_list(tmp_path, make_graph):
    first = Saver(max_to_keep=3)
    for step in (1, 2, 3):
        first.save(make_graph(), _base(tmp_path), step)
    second = Saver(max_to_keep=3)  # a new train() call: a new Saver on the same model_dir
    second.save(make_graph(), _base(tmp_path), 4)
    assert _listed(tmp_path) == ["model.ckpt-2", "model.ckpt-3", "model.ckpt-4"]
    assert _files(tmp_path) == [f"model.ckpt-{k}.safetensors" for k in (2, 3, 4)]


def test_restore_adopts_the_list_so_deletion_continues(tmp_path, make_graph):
    first = Saver(max_to_keep=2)
    for step in (1, 2):
        first.save(make_graph(), _base(tmp_path), step)
    second = Saver(max_to_keep=2)
    second.restore(make_graph(), latest_checkpoint(str(tmp_path)))
    assert [os.path.basename(p) for p in second.last_checkpoints] == ["model.ckpt-1", "model.ckpt-2"]
    second.save(make_graph(), _base(tmp_path), 3)
    assert _files(tmp_path) == ["model.ckpt-2.safetensors", "model.ckpt-3.safetensors"]


def test_recover_last_checkpoints_skips_missing_ones(tmp_path, make_graph):
    saver = Saver()
    paths = [saver.save(make_graph(), _base(tmp_path), step) for step in (1, 2)]
    other = Saver()
    other.recover_last_checkpoints([*paths, _base(tmp_path) + "-99"])
    assert other.last_checkpoints == paths


def test_moved_model_dir_still_resumes(tmp_path, make_graph):
    original = tmp_path / "run"
    original.mkdir()
    saver = Saver()
    for step in (1, 2):
        saver.save(make_graph(kernel=float(step), step=step), _base(original), step)
    assert "/" not in (original / "checkpoint").read_text()  # bare names only
    moved = tmp_path / "moved"
    shutil.copytree(original, moved)
    shutil.rmtree(original)
    latest = latest_checkpoint(str(moved))
    assert latest == os.path.join(str(moved), "model.ckpt-2")
    restored = make_graph()
    Saver().restore(restored, latest)
    assert int(restored.find_variable("global_step")) == 2


def test_stale_temp_files_of_dead_writers_are_removed_on_save(tmp_path, make_graph):
    dead = tmp_path / "model.ckpt-5.safetensors.tmp-999999999-0a1b"
    dead_state = tmp_path / "checkpoint.tmp-999999999-0a1b"
    alive = tmp_path / f"model.ckpt-6.json.tmp-{os.getppid()}-0a1b"  # a live writer's file stays
    foreign = tmp_path / "notes.txt.tmp-999999999-0a1b"  # not a checkpoint file: not ours to delete
    for path in (dead, dead_state, alive, foreign):
        path.write_bytes(b"partial")
    Saver().save(make_graph(), _base(tmp_path), 1)
    assert not dead.exists() and not dead_state.exists()
    assert alive.exists() and foreign.exists()


def test_var_list_of_names_saves_and_restores_only_those(tmp_path, make_graph):
    saver = Saver(var_list=["dense/kernel"])
    path = saver.save(make_graph(kernel=3.0, bias=4.0), _base(tmp_path), 1)
    assert sorted(load_checkpoint(path).tensors) == ["dense/kernel"]
    target = make_graph(kernel=0.0, bias=9.0)
    saver.restore(target, path)
    assert target.find_variable("dense/kernel")[0, 0].item() == 3.0
    assert target.find_variable("dense/bias")[0].item() == 9.0  # untouched


def test_var_list_of_variables_and_dict(tmp_path, make_graph):
    graph = make_graph(kernel=2.0)
    by_variable = Saver(var_list=[graph.find_variable("dense/kernel")])
    assert sorted(load_checkpoint(by_variable.save(graph, _base(tmp_path), 1)).tensors) == ["dense/kernel"]
    target = torch.zeros(3, 2)
    by_dict = Saver(var_list={"renamed": target})
    path = Saver(var_list={"renamed": torch.full((3, 2), 5.0)}).save(graph, _base(tmp_path), 2)
    by_dict.restore(graph, path)
    assert target.tolist() == [[5.0, 5.0]] * 3


def test_unknown_var_list_name_is_a_value_error(tmp_path, make_graph):
    with pytest.raises(ValueError, match=r"does not have: \['nope'\]"):
        Saver(var_list=["nope"]).save(make_graph(), _base(tmp_path), 1)


def test_restore_mismatch_names_the_variables(tmp_path, make_graph):
    def other_model_fn(features, mode):
        get_variable("other/w", [4])
        return EstimatorSpec(mode, predictions=features)

    path = Saver().save(make_graph(), _base(tmp_path), 1)
    other = Graph(other_model_fn)
    other(torch.ones(1), None, ModeKeys.PREDICT)
    with pytest.raises(KeyError, match="other/w"):
        Saver().restore(other, path)


def test_restore_errors(tmp_path, make_graph):
    with pytest.raises(ValueError, match="Can't load save_path when it is None"):
        Saver().restore(make_graph(), None)
    with pytest.raises(CheckpointNotFoundError, match="not a valid checkpoint"):
        Saver().restore(make_graph(), _base(tmp_path) + "-1")


def test_save_into_a_missing_directory_is_a_value_error(tmp_path, make_graph):
    with pytest.raises(ValueError, match=r"Parent directory of .* doesn't exist, can't save"):
        Saver().save(make_graph(), str(tmp_path / "missing" / "model.ckpt"), 1)


def test_rng_state_is_restored_only_when_asked(tmp_path, make_graph):
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    path = Saver().save(make_graph(), _base(tmp_path), 1)
    expected = (torch.rand(2).tolist(), np.random.rand(), random.random())
    Saver().restore(make_graph(), path)
    assert (torch.rand(2).tolist(), np.random.rand(), random.random()) != expected
    Saver().restore(make_graph(), path, restore_rng=True)
    assert (torch.rand(2).tolist(), np.random.rand(), random.random()) == expected


def test_session_with_graph_attribute_and_tensor_global_step(tmp_path, make_graph):
    class Session:
        def __init__(self, graph):
            self.graph = graph

    path = Saver().save(Session(make_graph()), _base(tmp_path), torch.tensor(12))
    assert path.endswith("model.ckpt-12")
    with pytest.raises(TypeError, match=r"needs a te\.Graph"):
        Saver().save(object(), _base(tmp_path), 1)


def test_pad_step_number_and_metadata(tmp_path, make_graph):
    path = Saver(pad_step_number=True).save(make_graph(), _base(tmp_path), 10, metadata={"loss": 0.25})
    assert path.endswith("model.ckpt-00000010")
    assert load_checkpoint(path).metadata == {"loss": 0.25}


def test_empty_graph_raises_unless_allow_empty(tmp_path):
    class Empty:
        def checkpoint_tensors(self):
            return {}

        def restore_tensors(self, tensors):
            raise AssertionError("not called")

    with pytest.raises(ValueError, match="No variables to save"):
        Saver().save(Empty(), _base(tmp_path), 1)
    assert Saver(allow_empty=True).save(Empty(), _base(tmp_path), 1) is None
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_to_keep": -1}, ValueError, "max_to_keep must be >= 0"),
        ({"max_to_keep": 2.5}, TypeError, "max_to_keep must be an int"),
        (
            {"keep_checkpoint_every_n_hours": 0},
            ValueError,
            "keep_checkpoint_every_n_hours must be a number > 0",
        ),
        ({"var_list": "w"}, TypeError, "var_list must be None"),
    ],
)
def test_constructor_validation(kwargs, error, message):
    with pytest.raises(error, match=message):
        Saver(**kwargs)


def test_optimizer_slots_round_trip(tmp_path):
    """Adam's exp_avg / exp_avg_sq slots are saved with the variables and restored into a new Graph."""

    def model_fn(features, labels, mode):
        w = get_variable("w", [2], initializer=torch.ones(2))
        loss = ((features @ w - labels) ** 2).mean()
        optimizer = Optimizer(torch.optim.Adam, lr=0.1)
        train_op = optimizer.minimize(loss, global_step=get_or_create_global_step())
        return EstimatorSpec(mode, loss=loss, train_op=train_op)

    def trained_graph(steps: int) -> Graph:
        graph = Graph(model_fn)
        for _ in range(steps):
            graph(torch.ones(4, 2), torch.zeros(4), ModeKeys.TRAIN).train_op.run()
        return graph

    graph = trained_graph(3)
    path = Saver().save(graph, _base(tmp_path), 3)
    slots = {name for name in load_checkpoint(path).tensors if name.startswith("w/")}
    assert slots, "the optimizer's slots are in the checkpoint"
    fresh = Graph(model_fn)
    with torch.no_grad():
        fresh(torch.ones(4, 2), torch.zeros(4), ModeKeys.TRAIN)  # build pass: creates w and the optimizer
    Saver().restore(fresh, path)
    saved, restored = graph.checkpoint_tensors(), fresh.checkpoint_tensors()
    assert set(saved) == set(restored)
    for name in saved:
        assert torch.equal(saved[name], restored[name]), name
