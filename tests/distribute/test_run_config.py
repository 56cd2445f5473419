"""RunConfig (SEMANTICS (i), DESIGN 4): defaults, checkpoint frequency, validation, TF_CONFIG, replace."""

import ast
import dataclasses
import functools
import inspect
import itertools
import json
import pathlib
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_estimator.distribute import ClusterInfo, RunConfig, parse_tf_config

CLUSTER = {
    "chief": ["host0:2222"],
    "ps": ["host1:2222", "host2:2222"],
    "worker": ["host3:2222", "host4:2222", "host5:2222"],
}

# tf.estimator's replaceable properties, then the fields torch-estimator adds.
REPLACEABLE = (
    "model_dir",
    "tf_random_seed",
    "save_summary_steps",
    "save_checkpoints_steps",
    "save_checkpoints_secs",
    "session_config",
    "keep_checkpoint_max",
    "keep_checkpoint_every_n_hours",
    "log_step_count_steps",
    "train_distribute",
    "device_fn",
    "protocol",
    "eval_distribute",
    "experimental_distribute",
    "experimental_max_worker_delay_secs",
    "session_creation_timeout_secs",
    "checkpoint_save_graph_def",
    "random_seed",
    "device",
    "precision",
    "compile",
)


@pytest.fixture(autouse=True)
def no_tf_config(monkeypatch):
    """Each test starts local, whatever the machine's environment holds."""
    monkeypatch.delenv("TF_CONFIG", raising=False)


def set_tf_config(monkeypatch, tf_config):
    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))


def device_fn(op):
    return "/cpu:0"


# -- defaults and checkpoint frequency ------------------------------------------------------------


def test_defaults_match_tf():
    config = RunConfig()
    assert config.model_dir is None
    assert config.tf_random_seed is None and config.random_seed is None
    assert config.save_summary_steps == 100
    assert (config.save_checkpoints_steps, config.save_checkpoints_secs) == (None, 600)
    assert config.session_config is None
    assert (config.keep_checkpoint_max, config.keep_checkpoint_every_n_hours) == (5, 10000)
    assert config.log_step_count_steps == 100
    assert config.train_distribute is None and config.eval_distribute is None
    assert config.experimental_distribute is None and config.experimental_max_worker_delay_secs is None
    assert config.device_fn is None and config.protocol is None
    assert config.session_creation_timeout_secs == 7200
    assert config.checkpoint_save_graph_def is True
    assert (config.device, config.precision, config.compile) == ("auto", "32", False)


def test_local_cluster_properties():
    config = RunConfig()
    assert config.cluster == ClusterInfo()
    assert config.cluster_spec == {}
    assert (config.task_type, config.task_id, config.master, config.evaluation_master) == (
        "worker",
        0,
        "",
        "",
    )
    assert (config.is_chief, config.num_ps_replicas, config.num_worker_replicas) == (True, 0, 1)
    assert config.global_id_in_cluster == 0 and config.service is None


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, (None, 600)),  # neither given: every 600 s
        ({"save_checkpoints_secs": 120}, (None, 120)),
        ({"save_checkpoints_steps": 100}, (100, None)),
        ({"save_checkpoints_steps": None}, (None, None)),  # TF's quirk: this alone disables checkpoints
        ({"save_checkpoints_secs": None}, (None, None)),
        ({"save_checkpoints_steps": None, "save_checkpoints_secs": None}, (None, None)),
        ({"save_checkpoints_steps": 100, "save_checkpoints_secs": None}, (100, None)),
        ({"save_checkpoints_steps": None, "save_checkpoints_secs": 30}, (None, 30)),
    ],
)
def test_checkpoint_frequency_resolution(kwargs, expected):
    config = RunConfig(**kwargs)
    assert (config.save_checkpoints_steps, config.save_checkpoints_secs) == expected


def test_both_checkpoint_frequencies_set_is_an_error():
    with pytest.raises(
        ValueError, match="`save_checkpoints_steps` and `save_checkpoints_secs` cannot be both set"
    ):
        RunConfig(save_checkpoints_steps=100, save_checkpoints_secs=60)


def test_positional_arguments_follow_tf_order():
    config = RunConfig("/tmp/m", 3, 10, 20)
    assert (config.model_dir, config.tf_random_seed, config.save_summary_steps) == ("/tmp/m", 3, 10)
    assert (config.save_checkpoints_steps, config.save_checkpoints_secs) == (20, None)


def test_new_fields_are_keyword_only():
    fields = [f.name for f in dataclasses.fields(RunConfig) if not f.kw_only]
    assert fields[-1] == "checkpoint_save_graph_def" and len(fields) == 17


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_dir": ""}, "model_dir should be non-empty"),
        ({"save_summary_steps": -1}, "save_summary_steps should be >= 0. Received: -1"),
        ({"save_checkpoints_steps": -1}, "save_checkpoints_steps should be >= 0"),
        ({"save_checkpoints_secs": -0.5}, "save_checkpoints_secs should be >= 0"),
        ({"keep_checkpoint_max": -1}, "keep_checkpoint_max should be >= 0"),
        ({"keep_checkpoint_every_n_hours": 0}, "keep_checkpoint_every_n_hours should be > 0"),
        ({"log_step_count_steps": 0}, "log_step_count_steps should be > 0"),
        ({"tf_random_seed": 1.5}, "tf_random_seed must be integer."),
        ({"random_seed": "7"}, "tf_random_seed must be integer."),
        (
            {"experimental_max_worker_delay_secs": 1.5},
            "experimental_max_worker_delay_secs must be an integer",
        ),
        ({"session_creation_timeout_secs": 0}, "session_creation_timeout_secs should be > 0"),
        ({"device_fn": "gpu"}, 'device_fn must be callable with exactly one argument "op"'),
        ({"device_fn": lambda node: None}, "exactly one argument"),
        ({"device_fn": lambda op, extra: None}, "exactly one argument"),
        ({"protocol": "http"}, "protocol should be grpc or grpc\\+verbs. Received: 'http'"),
        ({"device": "tpu:0"}, "device 'tpu:0' is not a device torch knows"),
        ({"device": "meta"}, "device must be a CPU or CUDA device"),
        ({"precision": "64"}, "precision must be one of '32', 'bf16-mixed', '16-mixed'. Received: '64'"),
        ({"precision": 32}, "precision must be one of"),
        ({"random_seed": 1, "tf_random_seed": 2}, "random_seed is an alias of tf_random_seed"),
    ],
)
def test_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"save_summary_steps": "10"}, "save_summary_steps should be >= 0. Received: '10' \\(str\\)"),
        ({"model_dir": 3}, "model_dir must be a path"),
        ({"device": 0}, "device must be a string or a torch.device"),
        ({"compile": "yes"}, "compile must be True or False"),
        ({"cluster": {"chief": ["a:1"]}}, "cluster must be a ClusterInfo"),
    ],
)
def test_type_errors(kwargs, message):
    with pytest.raises(TypeError, match=message):
        RunConfig(**kwargs)


def test_checks_run_in_tf_order():
    # TF checks save_summary_steps before log_step_count_steps, and both before device_fn.
    with pytest.raises(ValueError, match="save_summary_steps"):
        RunConfig(log_step_count_steps=0, save_summary_steps=-1, device_fn=1)
    # The checkpoint conflict is found at resolution, before any property check.
    with pytest.raises(ValueError, match="cannot be both set"):
        RunConfig(save_summary_steps=-1, save_checkpoints_steps=1, save_checkpoints_secs=1)


@pytest.mark.parametrize(
    "name",
    [
        "save_summary_steps",
        "keep_checkpoint_max",
        "keep_checkpoint_every_n_hours",
        "log_step_count_steps",
        "experimental_max_worker_delay_secs",
        "session_creation_timeout_secs",
        "tf_random_seed",
    ],
)
def test_none_is_always_allowed(name):
    assert getattr(RunConfig(**{name: None}), name) is None


@pytest.mark.parametrize("value", [0, 0.0])
def test_zero_is_allowed_where_tf_says_ge_zero(value):
    config = RunConfig(save_summary_steps=value, keep_checkpoint_max=value, save_checkpoints_steps=value)
    assert (config.save_summary_steps, config.keep_checkpoint_max, config.save_checkpoints_steps) == (
        value,
    ) * 3


class DeviceFunction:
    def __call__(self, op):
        return ""


@pytest.mark.parametrize(
    "fn",
    [device_fn, lambda op: "", DeviceFunction(), functools.partial(lambda op, place: place, place="/cpu:0")],
)
def test_device_fn_with_one_op_parameter_is_accepted(fn):
    assert RunConfig(device_fn=fn).device_fn is fn


@pytest.mark.parametrize("protocol", [None, "grpc", "grpc+verbs"])
def test_protocols(protocol):
    assert RunConfig(protocol=protocol).protocol == protocol


def test_session_config_accepts_any_object():
    # There is no ConfigProto in PyTorch: whatever is given is kept and ignored.
    marker = {"allow_soft_placement": True}
    assert RunConfig(session_config=marker).session_config is marker


def test_model_dir_path_like_becomes_str(tmp_path):
    assert RunConfig(model_dir=tmp_path).model_dir == str(tmp_path)
    assert RunConfig(model_dir=pathlib.PurePosixPath("a/b")).model_dir == "a/b"


# -- seed, device, precision ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs", [{"tf_random_seed": 7}, {"random_seed": 7}, {"tf_random_seed": 7, "random_seed": 7}]
)
def test_random_seed_is_an_alias(kwargs):
    config = RunConfig(**kwargs)
    assert (config.tf_random_seed, config.random_seed) == (7, 7)
    assert config == RunConfig(tf_random_seed=7)


@pytest.mark.parametrize(
    ("device", "stored", "resolved"),
    [
        ("cpu", "cpu", torch.device("cpu")),
        ("cuda", "cuda", torch.device("cuda")),
        ("cuda:1", "cuda:1", torch.device("cuda", 1)),
        (torch.device("cuda", 0), "cuda:0", torch.device("cuda", 0)),
        (torch.device("cpu"), "cpu", torch.device("cpu")),
    ],
)
def test_devices(device, stored, resolved):
    # Configuring CUDA on a CPU machine is allowed: the engine fails later, when it moves tensors.
    config = RunConfig(device=device)
    assert config.device == stored
    assert config.resolved_device == resolved


def test_auto_device_resolves_to_what_is_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert RunConfig().resolved_device == torch.device(expected)


@pytest.mark.parametrize("precision", ["32", "bf16-mixed", "16-mixed"])
def test_precisions(precision):
    assert RunConfig(precision=precision).precision == precision


# -- TF_CONFIG ------------------------------------------------------------------------------------


def test_worker_properties_from_tf_config(monkeypatch):
    set_tf_config(monkeypatch, {"cluster": CLUSTER, "task": {"type": "worker", "index": 1}})
    config = RunConfig()
    assert config.cluster_spec == CLUSTER
    assert (config.task_type, config.task_id, config.master) == ("worker", 1, "grpc://host4:2222")
    # ps = 2; workers = 3 + chief; global id: chief 0, worker 0 -> 1, worker 1 -> 2.
    assert (config.num_ps_replicas, config.num_worker_replicas, config.global_id_in_cluster) == (2, 4, 2)
    assert not config.is_chief
    assert config.session_config is None  # TF filled a distributed ConfigProto; we have none


def test_evaluator_from_tf_config(monkeypatch):
    set_tf_config(monkeypatch, {"cluster": CLUSTER, "task": {"type": "evaluator", "index": 0}})
    config = RunConfig()
    assert (config.cluster_spec, config.task_type, config.master, config.evaluation_master) == (
        {},
        "evaluator",
        "",
        "",
    )
    assert (config.num_ps_replicas, config.num_worker_replicas, config.global_id_in_cluster) == (0, 0, None)
    assert not config.is_chief


def test_tf_config_errors_surface_from_the_constructor(monkeypatch):
    set_tf_config(monkeypatch, {"cluster": {"worker": ["w:1"]}, "task": {"type": "worker", "index": 0}})
    with pytest.raises(ValueError, match='must have one "chief" node'):
        RunConfig()
    monkeypatch.setenv("TF_CONFIG", "{oops")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        RunConfig()
    set_tf_config(monkeypatch, {"service": "svc"})
    with pytest.raises(TypeError, match='If "service" is set in TF_CONFIG, it must be a dict'):
        RunConfig()


def test_service_from_tf_config(monkeypatch):
    set_tf_config(monkeypatch, {"service": {"name": "svc"}})
    assert RunConfig().service == {"name": "svc"}


def test_model_dir_from_tf_config(monkeypatch):
    set_tf_config(monkeypatch, {"model_dir": "/from/env"})
    assert RunConfig().model_dir == "/from/env"
    assert RunConfig(model_dir="/from/env").model_dir == "/from/env"
    with pytest.raises(ValueError, match="must have the same value as the model_dir in TF_CONFIG"):
        RunConfig(model_dir="/elsewhere")


def test_empty_model_dir_in_tf_config(monkeypatch):
    set_tf_config(monkeypatch, {"model_dir": ""})
    with pytest.raises(ValueError, match="model_dir in TF_CONFIG should be non-empty"):
        RunConfig()


def test_cluster_can_be_given_instead_of_the_environment(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not read}")
    info = parse_tf_config(
        {"TF_CONFIG": json.dumps({"cluster": CLUSTER, "task": {"type": "chief", "index": 0}})}
    )
    config = RunConfig(cluster=info)
    assert config.is_chief and config.master == "grpc://host0:2222" and config.cluster is info


def test_cluster_spec_is_a_copy(monkeypatch):
    set_tf_config(monkeypatch, {"cluster": CLUSTER, "task": {"type": "chief", "index": 0}})
    config = RunConfig()
    config.cluster_spec["worker"].append("intruder:1")
    assert config.cluster_spec == CLUSTER


def test_environment_is_read_only_at_construction(monkeypatch):
    config = RunConfig(model_dir="/m")
    set_tf_config(monkeypatch, {"cluster": CLUSTER, "task": {"type": "worker", "index": 0}})
    assert config.replace(save_summary_steps=5).task_type == "worker"
    assert config.replace(save_summary_steps=5).cluster_spec == {}


# -- replace --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["master", "cluster", "task_type", "is_chief", "no_such_field"])
def test_replace_rejects_other_keys(key):
    with pytest.raises(ValueError, match=f"Replacing {key} is not supported. Allowed properties are"):
        RunConfig().replace(**{key: None})


@pytest.mark.parametrize(
    ("start", "changes", "expected"),
    [
        ({}, {"save_checkpoints_steps": 10}, (10, None)),  # steps given non-None: secs dropped
        ({}, {"save_checkpoints_secs": 30}, (None, 30)),
        ({}, {"save_checkpoints_steps": None}, (None, 600)),  # None leaves the other unchanged
        ({"save_checkpoints_steps": 10}, {"save_checkpoints_secs": None}, (10, None)),
        ({"save_checkpoints_steps": 10}, {"save_checkpoints_secs": 30}, (None, 30)),
        ({}, {"save_checkpoints_steps": 10, "save_checkpoints_secs": None}, (10, None)),
        ({}, {"save_checkpoints_steps": None, "save_checkpoints_secs": None}, (None, None)),
    ],
)
def test_replace_checkpoint_rules(start, changes, expected):
    new = RunConfig(**start).replace(**changes)
    assert (new.save_checkpoints_steps, new.save_checkpoints_secs) == expected


def test_replace_both_checkpoint_frequencies_is_an_error():
    with pytest.raises(ValueError, match="cannot be both set"):
        RunConfig().replace(save_checkpoints_steps=10, save_checkpoints_secs=30)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"save_summary_steps": -1}, "save_summary_steps should be >= 0"),
        ({"model_dir": ""}, "model_dir should be non-empty"),
        ({"device_fn": lambda: None}, "exactly one argument"),
        ({"protocol": "udp"}, "protocol should be grpc or grpc\\+verbs"),
        ({"precision": "8"}, "precision must be one of"),
        ({"random_seed": 1, "tf_random_seed": 2}, "alias"),
    ],
)
def test_replace_revalidates(changes, message):
    with pytest.raises(ValueError, match=message):
        RunConfig().replace(**changes)


def test_replace_returns_a_new_config_and_leaves_the_original():
    config = RunConfig(model_dir="/a", save_checkpoints_steps=10)
    new = config.replace(model_dir="/b", device="cpu", precision="bf16-mixed", compile=True, random_seed=3)
    assert (new.model_dir, new.device, new.precision, new.compile) == ("/b", "cpu", "bf16-mixed", True)
    assert (new.tf_random_seed, new.random_seed) == (3, 3)
    assert new.save_checkpoints_steps == 10
    assert config == RunConfig(model_dir="/a", save_checkpoints_steps=10)
    assert new is not config


def test_replace_normalises_like_the_constructor(tmp_path):
    new = RunConfig().replace(model_dir=tmp_path, device=torch.device("cuda", 2))
    assert (new.model_dir, new.device) == (str(tmp_path), "cuda:2")


def test_replace_model_dir_does_not_recheck_tf_config(monkeypatch):
    # TF's replace does not look at TF_CONFIG again (the Estimator relies on replace(model_dir=...)).
    set_tf_config(monkeypatch, {"model_dir": "/from/env"})
    assert RunConfig().replace(model_dir="/other").model_dir == "/other"


def test_replace_keeps_the_cluster(monkeypatch):
    set_tf_config(monkeypatch, {"cluster": CLUSTER, "task": {"type": "ps", "index": 1}})
    new = RunConfig().replace(save_summary_steps=1)
    assert (new.task_type, new.task_id, new.global_id_in_cluster) == ("ps", 1, 5)


# -- data behaviour -------------------------------------------------------------------------------


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunConfig().model_dir = "/x"  # type: ignore[misc]


def test_equality():
    assert RunConfig(model_dir="/m", save_checkpoints_steps=5) == RunConfig(
        model_dir="/m", save_checkpoints_steps=5
    )
    assert RunConfig(save_checkpoints_steps=5) != RunConfig(save_checkpoints_secs=5)
    assert RunConfig(device="cpu") != RunConfig()


def test_repr_shows_what_differs_from_the_defaults():
    assert repr(RunConfig()) == "RunConfig()"
    config = RunConfig(model_dir="/m", save_checkpoints_steps=5, random_seed=1, device="cpu", compile=True)
    assert repr(config) == (
        "RunConfig(model_dir='/m', tf_random_seed=1, save_checkpoints_steps=5, save_checkpoints_secs=None, "
        "device='cpu', compile=True)"
    )


@pytest.mark.parametrize("cls", [RunConfig, ClusterInfo])
def test_every_field_has_a_docstring(cls):
    """STYLE rule 7: each dataclass field is followed by its docstring."""
    module = ast.parse(inspect.getsource(sys.modules[cls.__module__]))
    classes = [node for node in module.body if isinstance(node, ast.ClassDef) and node.name == cls.__name__]
    body = classes[0].body
    documented = {
        node.target.id
        for node, following in itertools.pairwise(body)
        if isinstance(node, ast.AnnAssign)
        and isinstance(following, ast.Expr)
        and isinstance(following.value, ast.Constant)
        and isinstance(following.value.value, str)
    }
    assert {field.name for field in dataclasses.fields(cls)} <= documented


configs = st.fixed_dictionaries(
    {
        "model_dir": st.none() | st.text(alphabet="abc/", min_size=1, max_size=8),
        "tf_random_seed": st.none() | st.integers(0, 2**31),
        "save_summary_steps": st.none() | st.integers(0, 1000),
        "keep_checkpoint_max": st.none() | st.integers(0, 10),
        "keep_checkpoint_every_n_hours": st.none() | st.floats(0.5, 1e4),
        "log_step_count_steps": st.none() | st.integers(1, 1000),
        "protocol": st.sampled_from([None, "grpc", "grpc+verbs"]),
        "experimental_max_worker_delay_secs": st.none() | st.integers(0, 60),
        "session_creation_timeout_secs": st.none() | st.integers(1, 7200),
        "checkpoint_save_graph_def": st.booleans(),
        "device": st.sampled_from(["auto", "cpu", "cuda", "cuda:1", torch.device("cpu")]),
        "precision": st.sampled_from(["32", "bf16-mixed", "16-mixed"]),
        "compile": st.booleans(),
    }
)
frequencies = st.sampled_from(
    [{}, {"save_checkpoints_steps": 50}, {"save_checkpoints_secs": 30}, {"save_checkpoints_steps": None}]
)


@settings(max_examples=60, deadline=None)
@given(configs, frequencies)
def test_replace_with_current_values_round_trips(kwargs, frequency):
    config = RunConfig(**kwargs, **frequency, device_fn=device_fn)
    same = config.replace(**{key: getattr(config, key) for key in REPLACEABLE})
    assert same == config
    assert repr(same) == repr(config)
