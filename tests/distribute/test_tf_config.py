"""TF_CONFIG parsing (SEMANTICS (i)): local, chief clusters, the evaluator, legacy master, errors."""

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_estimator.distribute import ClusterInfo, TaskType, parse_tf_config

# TF's own docstring cluster: 1 chief, 2 ps, 3 workers.
CLUSTER = {
    "chief": ["host0:2222"],
    "ps": ["host1:2222", "host2:2222"],
    "worker": ["host3:2222", "host4:2222", "host5:2222"],
}


def parse(tf_config):
    """Parses a TF_CONFIG given as a dict, as the environment would hold it."""
    return parse_tf_config({"TF_CONFIG": json.dumps(tf_config)})


def test_task_type_constants():
    assert (TaskType.MASTER, TaskType.PS, TaskType.WORKER, TaskType.CHIEF, TaskType.EVALUATOR) == (
        "master",
        "ps",
        "worker",
        "chief",
        "evaluator",
    )


@pytest.mark.parametrize(
    "env", [{}, {"TF_CONFIG": ""}, {"TF_CONFIG": "  "}, {"TF_CONFIG": "{}"}, {"OTHER": "x"}]
)
def test_absent_or_empty_tf_config_is_local(env):
    info = parse_tf_config(env)
    assert info == ClusterInfo()
    assert info.cluster_spec == {}
    assert (info.task_type, info.task_id, info.master, info.evaluation_master) == ("worker", 0, "", "")
    assert (info.is_chief, info.num_ps_replicas, info.num_worker_replicas, info.global_id_in_cluster) == (
        True,
        0,
        1,
        0,
    )
    assert info.service is None and info.model_dir is None and info.device_filters is None


def test_local_reads_session_masters_service_and_model_dir():
    info = parse(
        {
            "task": {"type": "worker", "index": "0"},
            "session_master": "grpc://local:1",
            "eval_session_master": "grpc://eval:1",
            "service": {"name": "svc"},
            "model_dir": "/models/run",
            "environment": "cloud",
        }
    )
    assert (info.master, info.evaluation_master) == ("grpc://local:1", "grpc://eval:1")
    assert info.service == {"name": "svc"}
    assert info.model_dir == "/models/run"
    assert info.task_id == 0 and info.is_chief


def test_local_task_type_must_be_worker():
    with pytest.raises(
        ValueError, match=r'If "cluster" is not set in TF_CONFIG, task type must be WORKER\..*chief'
    ):
        parse({"task": {"type": "chief", "index": 0}})


def test_local_task_index_must_be_zero():
    with pytest.raises(ValueError, match=r'If "cluster" is not set in TF_CONFIG, task index must be 0\..*1'):
        parse({"task": {"type": "worker", "index": 1}})


def test_local_checks_type_before_index():
    with pytest.raises(ValueError, match="task type must be WORKER"):
        parse({"task": {"type": "ps", "index": 3}})


def test_empty_cluster_is_local():
    assert parse({"cluster": {}, "task": {}}) == ClusterInfo()


@pytest.mark.parametrize(
    ("task_type", "task_id", "master", "global_id", "is_chief", "filters"),
    [
        # global ids: chief 0; worker 0,1,2 -> 1,2,3; ps (last) 0,1 -> 4,5.
        ("chief", 0, "grpc://host0:2222", 0, True, ["/job:ps", "/job:chief"]),
        ("worker", 0, "grpc://host3:2222", 1, False, ["/job:ps", "/job:worker/task:0"]),
        ("worker", 1, "grpc://host4:2222", 2, False, ["/job:ps", "/job:worker/task:1"]),
        ("worker", 2, "grpc://host5:2222", 3, False, ["/job:ps", "/job:worker/task:2"]),
        ("ps", 0, "grpc://host1:2222", 4, False, ["/job:ps", "/job:worker", "/job:chief", "/job:master"]),
        ("ps", 1, "grpc://host2:2222", 5, False, ["/job:ps", "/job:worker", "/job:chief", "/job:master"]),
    ],
)
def test_chief_cluster(task_type, task_id, master, global_id, is_chief, filters):
    info = parse({"cluster": CLUSTER, "task": {"type": task_type, "index": task_id}})
    assert info.cluster_spec == CLUSTER
    assert (info.task_type, info.task_id, info.master, info.evaluation_master) == (
        task_type,
        task_id,
        master,
        "",
    )
    # ps = 2; workers = 3 workers + 1 chief.
    assert (info.num_ps_replicas, info.num_worker_replicas) == (2, 4)
    assert (info.global_id_in_cluster, info.is_chief) == (global_id, is_chief)
    assert info.device_filters == filters


def test_global_id_orders_other_jobs_alphabetically_with_ps_last():
    # Order: chief (1) -> alpha (2) -> worker (1) -> zeta (1) -> ps (1), so ids 0 | 1 2 | 3 | 4 | 5.
    cluster = {"ps": ["p:1"], "zeta": ["z:1"], "worker": ["w:1"], "alpha": ["a:1", "a:2"], "chief": ["c:1"]}
    ids = {
        (job, index): parse({"cluster": cluster, "task": {"type": job, "index": index}}).global_id_in_cluster
        for job, addresses in cluster.items()
        for index in range(len(addresses))
    }
    assert ids == {
        ("chief", 0): 0,
        ("alpha", 0): 1,
        ("alpha", 1): 2,
        ("worker", 0): 3,
        ("zeta", 0): 4,
        ("ps", 0): 5,
    }


def test_session_master_in_tf_config_wins():
    info = parse({"cluster": CLUSTER, "task": {"type": "worker", "index": 1}, "session_master": "grpc://m:1"})
    assert info.master == "grpc://m:1"


def test_single_node_cluster_has_local_master():
    info = parse({"cluster": {"chief": ["host0:2222"]}, "task": {"type": "chief", "index": 0}})
    assert (info.master, info.num_worker_replicas, info.num_ps_replicas, info.global_id_in_cluster) == (
        "",
        1,
        0,
        0,
    )
    assert info.is_chief


def test_task_index_given_as_string_is_converted():
    assert parse({"cluster": CLUSTER, "task": {"type": "worker", "index": "2"}}).task_id == 2


def test_evaluator_is_outside_the_cluster():
    info = parse(
        {
            "cluster": CLUSTER,
            "task": {"type": "evaluator", "index": 7},  # no upper bound for the evaluator
            "session_master": "grpc://ignored:1",
            "eval_session_master": "grpc://eval:1",
        }
    )
    assert info.cluster_spec == {}
    assert (info.task_type, info.task_id, info.master, info.evaluation_master) == (
        "evaluator",
        7,
        "",
        "grpc://eval:1",
    )
    assert (info.num_ps_replicas, info.num_worker_replicas, info.global_id_in_cluster, info.is_chief) == (
        0,
        0,
        None,
        False,
    )
    assert info.device_filters is None


def test_evaluator_evaluation_master_defaults_to_local():
    assert parse({"cluster": CLUSTER, "task": {"type": "evaluator", "index": 0}}).evaluation_master == ""


def test_non_evaluator_ignores_eval_session_master():
    info = parse(
        {"cluster": CLUSTER, "task": {"type": "chief", "index": 0}, "eval_session_master": "grpc://e:1"}
    )
    assert info.evaluation_master == ""


@pytest.mark.parametrize(
    ("tf_config", "message"),
    [
        (
            {"cluster": {"worker": ["w:1"]}, "task": {"type": "worker", "index": 0}},
            'must have one "chief" node',
        ),
        (
            {"cluster": {"chief": [], "worker": ["w:1"]}, "task": {"type": "worker", "index": 0}},
            'one "chief"',
        ),
        (
            {"cluster": {"chief": ["a:1", "b:1"]}, "task": {"type": "chief", "index": 0}},
            'only one "chief" node',
        ),
        ({"cluster": CLUSTER, "task": {"index": 0}}, "task type must be set"),
        ({"cluster": CLUSTER, "task": {"type": "", "index": 0}}, "task type must be set"),
        ({"cluster": CLUSTER}, "task type must be set"),
        ({"cluster": CLUSTER, "task": {"type": "worker"}}, "task index must be set"),
        (
            {"cluster": CLUSTER, "task": {"type": "worker", "index": -1}},
            "Task index must be non-negative number.",
        ),
        ({"cluster": CLUSTER, "task": {"type": "evaluator", "index": -1}}, "must be non-negative"),
        ({"cluster": CLUSTER, "task": {"type": "trainer", "index": 0}}, "trainer is not a valid task_type"),
        (
            {"cluster": CLUSTER, "task": {"type": "worker", "index": 3}},
            "3 is not a valid task_id for task_type",
        ),
        ({"cluster": CLUSTER, "task": {"type": "worker", "index": "x"}}, "must be an integer"),
        ({"model_dir": ""}, "model_dir in TF_CONFIG should be non-empty"),
    ],
)
def test_cluster_errors(tf_config, message):
    with pytest.raises(ValueError, match=message):
        parse(tf_config)


def test_chief_checks_come_before_task_checks():
    # Missing chief and missing task: TF reports the chief first.
    with pytest.raises(ValueError, match='one "chief" node'):
        parse({"cluster": {"worker": ["w:1"]}})


@pytest.mark.parametrize(
    ("tf_config", "message"),
    [
        ({"service": "svc"}, 'If "service" is set in TF_CONFIG, it must be a dict'),
        ({"service": ["a"], "cluster": CLUSTER}, "must be a dict"),
        ({"cluster": ["w:1"]}, '"cluster" in TF_CONFIG must be a dict'),
        ({"cluster": {"worker": "w:1"}}, "The tasks for job 'worker' must be a list"),
        ({"cluster": {"worker": {"0": "w:1"}}}, "must be a list"),
        ({"task": "worker"}, '"task" in TF_CONFIG must be a dict'),
    ],
)
def test_shape_errors_are_type_errors(tf_config, message):
    with pytest.raises(TypeError, match=message):
        parse(tf_config)


def test_service_is_checked_even_for_a_broken_cluster():
    # TF validates "service" before it looks at the cluster.
    with pytest.raises(TypeError, match="service"):
        parse({"service": 1, "cluster": {"worker": ["w:1"]}})


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '"worker"'])
def test_invalid_json_names_tf_config(text):
    with pytest.raises(ValueError, match="TF_CONFIG"):
        parse_tf_config({"TF_CONFIG": text})


LEGACY = {"master": ["m:1"], "ps": ["p:1"], "worker": ["w:1", "w:2"]}


@pytest.mark.parametrize(
    ("task_type", "task_id", "master", "global_id", "is_chief"),
    [
        # master 0; worker 0,1 -> 1,2; ps -> 3.
        ("master", 0, "grpc://m:1", 0, True),
        ("worker", 0, "grpc://w:1", 1, False),
        ("worker", 1, "grpc://w:2", 2, False),
        ("ps", 0, "grpc://p:1", 3, False),
    ],
)
def test_legacy_master_cluster(task_type, task_id, master, global_id, is_chief):
    info = parse({"cluster": LEGACY, "task": {"type": task_type, "index": task_id}})
    assert info.cluster_spec == LEGACY
    assert (info.master, info.evaluation_master, info.global_id_in_cluster, info.is_chief) == (
        master,
        "",
        global_id,
        is_chief,
    )
    # ps = 1; workers = 2 workers + 1 master.
    assert (info.num_ps_replicas, info.num_worker_replicas) == (1, 3)


def test_legacy_master_device_filters():
    info = parse({"cluster": LEGACY, "task": {"type": "master", "index": 0}})
    assert info.device_filters == ["/job:ps", "/job:master"]


@pytest.mark.parametrize(
    ("tf_config", "message"),
    [
        (
            {"cluster": {"master": ["m:1"], "chief": ["c:1"]}, "task": {"type": "master", "index": 0}},
            "If `master` node exists in `cluster`, job `chief` is not supported.",
        ),
        (
            {"cluster": LEGACY, "task": {"type": "evaluator", "index": 0}},
            "If `master` node exists in `cluster`, task_type `evaluator` is not supported.",
        ),
        (
            {"cluster": {"master": ["m:1", "m:2"]}, "task": {"type": "master", "index": 0}},
            'only one "master"',
        ),
        ({"cluster": LEGACY, "task": {"type": "worker"}}, "task index must be set"),
    ],
)
def test_legacy_master_errors(tf_config, message):
    with pytest.raises(ValueError, match=message):
        parse(tf_config)


def test_cluster_info_is_frozen():
    info = parse_tf_config({})
    with pytest.raises(AttributeError):
        info.task_id = 3  # type: ignore[misc]


job_names = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6).filter(
    lambda name: name not in (TaskType.CHIEF, TaskType.MASTER, TaskType.EVALUATOR)
)


@st.composite
def clusters(draw):
    """A valid cluster: one chief (or legacy master), other jobs (ps among them, maybe) with 1-3 tasks."""
    chief = draw(st.sampled_from([TaskType.CHIEF, TaskType.MASTER]))
    others = draw(st.dictionaries(job_names, st.integers(1, 3), max_size=4))
    counts = {chief: 1, **others}
    return {job: [f"{job}{index}:2222" for index in range(count)] for job, count in counts.items()}


@settings(max_examples=60, deadline=None)
@given(clusters())
def test_global_ids_are_distinct_and_dense(cluster):
    """Every task of the training cluster gets its own id; together they are 0..n-1, chief first."""
    infos = [
        parse({"cluster": cluster, "task": {"type": job, "index": index}})
        for job, addresses in cluster.items()
        for index in range(len(addresses))
    ]
    assert sorted(info.global_id_in_cluster for info in infos) == list(range(len(infos)))
    chiefs = [info for info in infos if info.is_chief]
    assert len(chiefs) == 1 and chiefs[0].global_id_in_cluster == 0
    if TaskType.PS in cluster:
        ps_ids = [info.global_id_in_cluster for info in infos if info.task_type == TaskType.PS]
        assert max(ps_ids) == len(infos) - 1 and min(ps_ids) == len(infos) - len(ps_ids)
