"""TrainSpec / EvalSpec validation: TF's checks, order and key phrases (SEMANTICS (k))."""

from __future__ import annotations

import dataclasses

import pytest

import torch_estimator as te


def input_fn():
    return None


class NamedExporter:
    def __init__(self, name):
        self.name = name

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        return None


def test_train_spec_defaults_and_tuples():
    hook, listener = te.StopAtStepHook(last_step=3), te.CheckpointSaverListener()
    spec = te.TrainSpec(input_fn, max_steps=5, hooks=[hook], saving_listeners=[listener])
    assert spec.hooks == (hook,) and spec.saving_listeners == (listener,)
    assert te.TrainSpec(input_fn).max_steps is None
    assert te.TrainSpec(input_fn).hooks == () and te.TrainSpec(input_fn).saving_listeners == ()


@pytest.mark.parametrize(
    ("kwargs", "error", "phrase"),
    [
        ({"input_fn": 3}, TypeError, "`input_fn` must be callable"),
        ({"max_steps": 0}, ValueError, "Must specify max_steps > 0, given: 0"),
        ({"max_steps": -1}, ValueError, "Must specify max_steps > 0"),
        ({"hooks": [object()]}, TypeError, "All hooks must be SessionRunHook instances"),
        (
            {"saving_listeners": [object()]},
            TypeError,
            "All saving_listeners must be `CheckpointSaverListener`",
        ),
    ],
)
def test_train_spec_rejects(kwargs, error, phrase):
    arguments = {"input_fn": input_fn, **kwargs}
    with pytest.raises(error, match=phrase):
        te.TrainSpec(**arguments)


def test_train_spec_is_frozen_and_replace_revalidates():
    spec = te.TrainSpec(input_fn, max_steps=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.max_steps = 6
    assert dataclasses.replace(spec, max_steps=7).max_steps == 7
    with pytest.raises(ValueError, match="max_steps > 0"):
        dataclasses.replace(spec, max_steps=0)


def test_eval_spec_defaults():
    spec = te.EvalSpec(input_fn)
    assert (spec.steps, spec.name, spec.hooks, spec.exporters) == (100, None, (), ())
    assert (spec.start_delay_secs, spec.throttle_secs) == (120, 600)
    assert te.EvalSpec(input_fn, steps=None).steps is None


@pytest.mark.parametrize(
    ("kwargs", "error", "phrase"),
    [
        ({"input_fn": "not callable"}, TypeError, "`input_fn` must be callable"),
        ({"steps": 0}, ValueError, "Must specify steps > 0, given: 0"),
        ({"name": 3}, TypeError, "`name` must be string"),
        ({"hooks": [3]}, TypeError, "All hooks must be SessionRunHook instances"),
        ({"start_delay_secs": -1}, ValueError, "Must specify start_delay_secs >= 0"),
        ({"throttle_secs": -1}, ValueError, "Must specify throttle_secs >= 0"),
    ],
)
def test_eval_spec_rejects(kwargs, error, phrase):
    arguments = {"input_fn": input_fn, **kwargs}
    with pytest.raises(error, match=phrase):
        te.EvalSpec(**arguments)


def test_exporters_accept_none_one_or_an_iterable():
    first, second = NamedExporter("a"), NamedExporter("b")
    assert te.EvalSpec(input_fn, exporters=None).exporters == ()
    assert te.EvalSpec(input_fn, exporters=[]).exporters == ()
    assert te.EvalSpec(input_fn, exporters=first).exporters == (first,)
    assert te.EvalSpec(input_fn, exporters=(e for e in [first, second])).exporters == (first, second)


@pytest.mark.parametrize(
    ("exporters", "error", "phrase"),
    [
        (3, TypeError, "`exporters` must be an Exporter, an iterable of Exporter, or `None`"),
        ([object()], TypeError, "`exporters` must be an Exporter, an iterable of Exporter, or `None`"),
        ([NamedExporter("a"), None], TypeError, "`exporters` must be an Exporter"),
        ([NamedExporter("")], ValueError, "An Exporter cannot have a name that is `None` or empty"),
        ([NamedExporter(None)], ValueError, "An Exporter cannot have a name that is `None` or empty"),
        ([NamedExporter(7)], ValueError, "An Exporter must have a string name"),
        ([NamedExporter("a"), NamedExporter("a")], ValueError, "`exporters` must have unique names"),
    ],
)
def test_eval_spec_rejects_exporters(exporters, error, phrase):
    with pytest.raises(error, match=phrase):
        te.EvalSpec(input_fn, exporters=exporters)


def test_library_exporters_are_exporters():
    receiver_fn = lambda: None  # noqa: E731
    for exporter in (
        te.LatestExporter("latest", receiver_fn),
        te.BestExporter(serving_input_receiver_fn=receiver_fn),
        te.FinalExporter("final", receiver_fn),
    ):
        assert isinstance(exporter, te.Exporter)
    assert not isinstance(object(), te.Exporter)
