"""The process group a launch asks for: TF_CONFIG clusters and torchrun variables, as plain dicts."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torch_estimator.distribute import ProcessGroupSpec, parse_tf_config, process_group_spec


def cluster_of(jobs, task_type, index=0):
    return parse_tf_config(
        {"TF_CONFIG": json.dumps({"cluster": jobs, "task": {"type": task_type, "index": index}})}
    )


JOBS = {"chief": ["host0:2222"], "worker": ["host1:2222", "host2:2222"]}
TORCHRUN = {
    "RANK": "1",
    "WORLD_SIZE": "2",
    "LOCAL_RANK": "1",
    "MASTER_ADDR": "10.0.0.1",
    "MASTER_PORT": "29500",
}


def test_no_launch_is_one_process():
    spec = process_group_spec(parse_tf_config({}), {})
    assert spec == ProcessGroupSpec()
    assert (spec.rank, spec.world_size, spec.distributed, spec.is_chief) == (0, 1, False, True)


@pytest.mark.parametrize(
    ("task_type", "index", "rank"), [("chief", 0, 0), ("worker", 0, 1), ("worker", 1, 2)]
)
def test_tf_config_chief_is_rank_zero_and_workers_follow(task_type, index, rank):
    spec = process_group_spec(cluster_of(JOBS, task_type, index), {})
    assert (spec.rank, spec.world_size, spec.launcher) == (rank, 3, "tf_config")
    assert (spec.master_addr, spec.master_port, spec.init_method) == ("host0", 2222, "tcp://host0:2222")
    assert spec.is_chief == (task_type == "chief")


def test_legacy_master_plays_the_chief():
    spec = process_group_spec(cluster_of({"master": ["m:1"], "worker": ["w:1"]}, "worker"), {})
    assert (spec.rank, spec.world_size, spec.init_method) == (1, 2, "tcp://m:1")


def test_a_one_node_cluster_trains_alone():
    assert not process_group_spec(cluster_of({"chief": ["h:1"]}, "chief"), {}).distributed


def test_ps_is_rejected_with_the_reason():
    cluster = cluster_of({"chief": ["h:1"], "ps": ["p:1"], "worker": ["w:1"]}, "worker")
    with pytest.raises(ValueError, match=r"Parameter servers are not supported.*Remove the 'ps' job"):
        process_group_spec(cluster, {})


def test_the_evaluator_is_outside_the_group():
    with pytest.raises(ValueError, match="separate process outside the training process group"):
        process_group_spec(cluster_of({"chief": ["h:1"]}, "evaluator"), {})


def test_other_jobs_cannot_train():
    with pytest.raises(ValueError, match="Task type 'trainer' cannot train"):
        process_group_spec(cluster_of({"chief": ["h:1"], "trainer": ["t:1"]}, "trainer"), {})


@pytest.mark.parametrize("address", ["host0", "host0:", ":2222", "host0:port"])
def test_chief_address_needs_a_port(address):
    with pytest.raises(ValueError, match="must be 'host:port'"):
        process_group_spec(cluster_of({"chief": [address], "worker": ["w:1"]}, "worker"), {})


def test_torchrun_variables():
    spec = process_group_spec(parse_tf_config({}), TORCHRUN)
    assert spec == ProcessGroupSpec(1, 2, 1, "10.0.0.1", 29500, "torchrun")
    assert spec.init_method == "env://"


def test_torchrun_and_tf_config_must_agree():
    assert process_group_spec(cluster_of(JOBS, "worker", 0), {**TORCHRUN, "WORLD_SIZE": "3"}).rank == 1
    with pytest.raises(ValueError, match="torchrun and TF_CONFIG describe different process groups"):
        process_group_spec(cluster_of(JOBS, "worker", 1), TORCHRUN)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**TORCHRUN, "RANK": "one"}, "RANK must be an integer"),
        ({"RANK": "0"}, "WORLD_SIZE must be an integer"),
        ({**TORCHRUN, "RANK": "2"}, r"rank must be in \[0, world_size\)"),
        ({key: value for key, value in TORCHRUN.items() if key != "MASTER_ADDR"}, "not MASTER_ADDR"),
    ],
)
def test_bad_torchrun_variables(env, message):
    with pytest.raises(ValueError, match=message):
        process_group_spec(parse_tf_config({}), env)


@given(workers=st.integers(0, 6), data=st.data())
def test_every_training_task_gets_a_distinct_rank(workers, data):
    """Chief + n workers: ranks 0..n, each once, all with the chief's address."""
    jobs = {"chief": ["c:7"], "worker": [f"w{i}:7" for i in range(workers)]}
    tasks = [("chief", 0)] + [("worker", i) for i in range(workers)]
    specs = [process_group_spec(cluster_of(jobs, task, index), {}) for task, index in tasks]
    assert sorted(spec.rank for spec in specs) == list(range(workers + 1))
    assert {spec.world_size for spec in specs} == {workers + 1}
    if workers:
        assert {spec.init_method for spec in specs} == {"tcp://c:7"}
    task, index = data.draw(st.sampled_from(tasks))
    assert process_group_spec(cluster_of(jobs, task, index), {}).is_chief == (task == "chief")
