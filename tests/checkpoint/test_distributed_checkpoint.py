"""Sharded (DCP) checkpoints in one process: layout, state file, readers, garbage collection."""

from __future__ import annotations

import os

import pytest
import torch

import torch_estimator as te
from torch_estimator.checkpoint import (
    Saver,
    checkpoint_exists,
    get_checkpoint_state,
    global_step_of,
    latest_checkpoint,
    list_variables,
    load_checkpoint,
    load_variable,
)
from torch_estimator.checkpoint.distributed import (
    ShardedSaver,
    is_sharded_checkpoint,
    read_sharded_checkpoint,
    write_sharded_checkpoint,
)
from torch_estimator.graph import Graph, get_variable


def make_graph():
    def model_fn(features, mode):
        w = get_variable("dense/w", [2, 3], initializer=te.initializers.constant(0.5))
        return te.EstimatorSpec(mode, predictions=features @ w)

    graph = Graph(model_fn)
    graph(torch.ones(1, 2), None, te.ModeKeys.PREDICT)
    return graph


def test_sharded_saver_writes_lists_and_collects(tmp_path):
    graph = make_graph()
    saver = ShardedSaver(Saver(max_to_keep=2), is_chief=True)
    for step in (1, 2, 3):
        saver.save(graph, tmp_path / "model.ckpt", step)
    state = get_checkpoint_state(str(tmp_path))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["model.ckpt-2", "model.ckpt-3"]
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint",
        "model.ckpt-2.dcp",
        "model.ckpt-2.json",
        "model.ckpt-3.dcp",
        "model.ckpt-3.json",
    ]
    prefix = str(tmp_path / "model.ckpt-3")
    assert latest_checkpoint(str(tmp_path)) == prefix
    assert is_sharded_checkpoint(prefix) and checkpoint_exists(prefix)
    assert global_step_of(str(tmp_path)) == 3
    assert list_variables(prefix) == [("dense/w", (2, 3), "float32")]
    assert load_variable(prefix, "dense/w").tolist() == [[0.5] * 3] * 2


def test_saver_restores_a_sharded_checkpoint(tmp_path):
    prefix = str(tmp_path / "model.ckpt-7")
    write_sharded_checkpoint(prefix, {"dense/w": torch.arange(6.0).reshape(2, 3)}, 7, is_chief=True)
    graph = make_graph()
    checkpoint = Saver().restore(graph, prefix)
    assert checkpoint.global_step == 7
    assert graph.state_dict()["dense/w"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert load_checkpoint(prefix).tensors["dense/w"].sum().item() == 15.0


def test_incomplete_sharded_checkpoint_is_skipped(tmp_path, caplog):
    """A save that died before DCP's .metadata landed falls back to the previous checkpoint."""
    graph = make_graph()
    saver = ShardedSaver(Saver(), is_chief=True)
    saver.save(graph, tmp_path / "model.ckpt", 1)
    saver.save(graph, tmp_path / "model.ckpt", 2)
    os.remove(tmp_path / "model.ckpt-2.dcp" / ".metadata")
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-1")
    assert "no .metadata file" in caplog.text
    with pytest.raises(te.checkpoint.CorruptCheckpointError, match=r"no \.metadata"):
        read_sharded_checkpoint(str(tmp_path / "model.ckpt-2"))


def test_resaving_a_step_replaces_it_and_leaves_no_temporary_directory(tmp_path):
    prefix = str(tmp_path / "model.ckpt-1")
    os.makedirs(tmp_path / "model.ckpt-9.dcp.tmp")  # left behind by a save that died
    write_sharded_checkpoint(prefix, {"w": torch.zeros(2)}, 1, is_chief=True)
    write_sharded_checkpoint(prefix, {"w": torch.ones(2)}, 1, is_chief=True)
    assert read_sharded_checkpoint(prefix).tensors["w"].tolist() == [1.0, 1.0]
    assert sorted(os.listdir(tmp_path)) == ["model.ckpt-1.dcp", "model.ckpt-1.json"]


def test_sharded_save_needs_a_global_step(tmp_path):
    with pytest.raises(ValueError, match="needs a global_step"):
        ShardedSaver(Saver(), is_chief=True).save(make_graph(), tmp_path / "model.ckpt")
