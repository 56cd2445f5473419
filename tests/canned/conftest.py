"""Shared helpers for the canned-estimator and head tests: a quiet RunConfig, hand-written checkpoints,
input_fns over fixed batches, and one run of a head's ``create_estimator_spec``.

Test modules reach them as fixtures of the same names (pytest runs with ``--import-mode=importlib``,
so test modules cannot import a helper module beside them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import torch

import torch_estimator as te


def make_quiet_config(**overrides: Any) -> te.RunConfig:
    """A seeded RunConfig on the CPU without step logging and summaries; ``overrides`` win."""
    settings: dict[str, Any] = {
        "log_step_count_steps": None,
        "save_summary_steps": 0,
        "device": "cpu",
        "tf_random_seed": 1,
    }
    settings.update(overrides)
    return te.RunConfig(**settings)


def write_variables(model_dir: Any, variables: Mapping[str, Any], global_step: int = 100) -> None:
    """A checkpoint in ``model_dir`` holding exactly ``variables`` (name -> values) and the global step."""

    def model_fn(features, mode):
        for name, value in variables.items():
            te.get_variable(name, initializer=torch.tensor(value, dtype=torch.float32))
        return te.EstimatorSpec(mode, predictions=features)

    graph = te.Graph(model_fn)
    te.graph.create_global_step(graph)
    graph(torch.ones(1), None, te.ModeKeys.PREDICT)
    graph.find_variable("global_step").fill_(global_step)
    te.train.Saver().save(graph, os.path.join(str(model_dir), "model.ckpt"), global_step=global_step)


def input_fn_over(*items: Any) -> Callable[[], Iterator[Any]]:
    """An input_fn yielding ``items`` in order, afresh on every call."""
    return lambda: iter(items)


def run_head_once(head: Any, features: Any, labels: Any, mode: str, logits: Any, **spec_kwargs: Any):
    """Runs ``head.create_estimator_spec`` as model_fn in a Graph, once; logits are a trainable variable.

    Returns ``(graph, spec, metric values)``; in EVAL every update op runs once, as in evaluate."""

    def model_fn(features, labels, mode):
        variable = te.get_variable("logits", initializer=torch.as_tensor(logits, dtype=torch.float32))
        return head.create_estimator_spec(
            features=features, mode=mode, logits=variable * 1.0, labels=labels, **spec_kwargs
        )

    graph = te.Graph(model_fn)
    with torch.set_grad_enabled(mode == te.ModeKeys.TRAIN):
        spec = graph(features, labels, mode)
    values = {}
    if mode == te.ModeKeys.EVAL:
        with torch.no_grad():
            for name in sorted(spec.eval_metric_ops):
                spec.eval_metric_ops[name][1]()
            values = {name: float(pair[0].compute()) for name, pair in spec.eval_metric_ops.items()}
    return graph, spec, values


@pytest.fixture
def quiet_config() -> Callable[..., te.RunConfig]:
    return make_quiet_config


@pytest.fixture
def write_checkpoint() -> Callable[..., None]:
    return write_variables


@pytest.fixture
def batches() -> Callable[..., Callable[[], Iterator[Any]]]:
    return input_fn_over


@pytest.fixture
def run_head() -> Callable[..., Any]:
    return run_head_once


@pytest.fixture
def fused_reads(monkeypatch) -> list[bool]:
    """Records, for every fused group a layer reads, whether it read the tables fused (True) or fell
    back to the per-column path (False)."""
    from torch_estimator.feature_column import fused_lookup

    reads: list[bool] = []
    rows = fused_lookup.FusedGroup.rows

    def counted_rows(group, graph, cache):
        found = rows(group, graph, cache)
        reads.append(found is not None)
        return found

    monkeypatch.setattr(fused_lookup.FusedGroup, "rows", counted_rows)
    return reads
