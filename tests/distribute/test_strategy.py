"""Strategy selection (chosen once per train call) and RunConfig.train_distribute validation."""

import pytest
import torch

import torch_estimator as te
from torch_estimator.distribute import DDPStrategy, SingleProcessStrategy, Strategy
from torch_estimator.distribute.strategy import check_train_distribute, resolve_strategy


@pytest.mark.parametrize(
    ("train_distribute", "world_size", "expected"),
    [
        (None, 1, SingleProcessStrategy),
        (None, 2, DDPStrategy),
        ("ddp", 2, DDPStrategy),
        ("ddp", 1, SingleProcessStrategy),
        (DDPStrategy(find_unused_parameters=True), 2, DDPStrategy),
    ],
)
def test_resolve_strategy(train_distribute, world_size, expected):
    assert type(resolve_strategy(train_distribute, world_size)) is expected


def test_a_given_strategy_object_is_used_as_is():
    strategy = DDPStrategy(broadcast_buffers=False)
    assert resolve_strategy(strategy, 4) is strategy


def test_names_become_strategy_objects_in_run_config():
    config = te.RunConfig(train_distribute="ddp")
    assert config.train_distribute == DDPStrategy()
    assert config.replace(train_distribute=None).train_distribute is None
    assert "train_distribute=DDPStrategy(" in repr(config)


def test_every_strategy_meets_the_protocol():
    assert [isinstance(s, Strategy) for s in (SingleProcessStrategy(), DDPStrategy())] == [True, True]
    assert [s.name for s in (SingleProcessStrategy(), DDPStrategy())] == ["single", "ddp"]


def test_single_process_strategy_leaves_the_graph_alone():
    graph = torch.nn.Linear(1, 1)
    assert SingleProcessStrategy().wrap(graph, torch.device("cpu")) is graph


class ParameterServerStrategy:
    name = "ps"

    def wrap(self, graph, device):
        return graph


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ("mirrored", ValueError, r"train_distribute must be one of \['ddp', 'fsdp'\]"),
        ("zero", ValueError, r"train_distribute must be one of \['ddp', 'fsdp'\]"),
        (ParameterServerStrategy(), ValueError, "ParameterServerStrategy is not supported"),
        (object(), TypeError, "train_distribute must be None, 'ddp', 'fsdp' or a strategy"),
    ],
)
def test_bad_train_distribute(value, error, message):
    with pytest.raises(error, match=message):
        check_train_distribute(value)
    with pytest.raises(error, match=message):
        te.RunConfig(train_distribute=value)


def test_static_graph_is_refused():
    with pytest.raises(ValueError, match="static_graph=True"):
        DDPStrategy(static_graph=True)


@pytest.mark.parametrize("timeout", [0, -1, None])
def test_collective_timeout_must_be_positive(timeout):
    with pytest.raises(ValueError, match="collective_timeout_secs"):
        te.RunConfig(collective_timeout_secs=timeout)
    with pytest.raises(ValueError, match="collective_timeout_secs"):
        te.RunConfig().replace(collective_timeout_secs=timeout)
    assert te.RunConfig().replace(collective_timeout_secs=7).collective_timeout_secs == 7
