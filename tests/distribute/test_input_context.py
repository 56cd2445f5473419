"""InputContext and shard: every element goes to exactly one pipeline."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torch_estimator.distribute import InputContext, shard


def test_defaults_are_one_pipeline():
    context = InputContext()
    assert (context.num_input_pipelines, context.input_pipeline_id, context.num_replicas_in_sync) == (1, 0, 1)
    assert list(context.shard(iter("abc"))) == ["a", "b", "c"]


def test_per_replica_batch_size():
    assert InputContext(4, 1, 4).get_per_replica_batch_size(64) == 16
    with pytest.raises(ValueError, match="is not divisible by `num_replicas_in_sync`"):
        InputContext(4, 1, 4).get_per_replica_batch_size(10)


@pytest.mark.parametrize(("args", "message"), [((0, 0, 1), "must be >= 1"), ((2, 2, 2), r"in \[0, 2\)")])
def test_bad_context(args, message):
    with pytest.raises(ValueError, match=message):
        InputContext(*args)


@pytest.mark.parametrize(("num_shards", "index"), [(0, 0), (2, 2), (2, -1), (2, True), (1.5, 0)])
def test_bad_shard_arguments(num_shards, index):
    with pytest.raises(ValueError, match="must be an int"):
        shard([1, 2], num_shards, index)


def test_shard_is_lazy_over_endless_iterables():
    def endless():
        value = 0
        while True:
            yield value
            value += 1

    shards = shard(endless(), 3, 1)
    assert [next(shards) for _ in range(3)] == [1, 4, 7]


@given(st.lists(st.integers(), max_size=50), st.integers(1, 8))
def test_shards_partition_the_elements(elements, num_shards):
    parts = [list(shard(elements, num_shards, index)) for index in range(num_shards)]
    assert sorted(item for part in parts for item in part) == sorted(elements)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert [part[0] for part in parts if part] == elements[: len([part for part in parts if part])]
