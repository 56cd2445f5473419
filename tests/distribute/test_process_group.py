"""The replicas the training loop talks to: one process, and how failed collectives are reported."""

import pytest
import torch

import torch_estimator as te
from torch_estimator.distribute import DistributedTrainingError, parse_tf_config
from torch_estimator.distribute.process_group import (
    LocalReplica,
    ProcessGroupReplicas,
    backend_for,
    join_training_group,
)


def test_one_process_needs_no_group():
    replicas, device = join_training_group(parse_tf_config({}), {}, torch.device("cpu"), 10.0)
    assert replicas == LocalReplica(is_chief=True)
    assert device == torch.device("cpu")
    assert not torch.distributed.is_initialized()


def test_local_replica_is_trivial():
    replica = LocalReplica()
    assert (replica.any(False), replica.any(True), replica.chief_value([1])) == (False, True, [1])
    replica.barrier()
    with replica.collective_errors():
        pass
    with pytest.raises(RuntimeError, match="not translated"), replica.collective_errors():
        raise RuntimeError("gloo: not translated without a group")


def test_backends():
    assert (backend_for(torch.device("cpu")), backend_for(torch.device("cuda", 1))) == ("gloo", "nccl")


def test_group_replicas_input_context_and_chief():
    replicas = ProcessGroupReplicas(rank=2, world_size=3, timeout_secs=5.0)
    assert not replicas.is_chief
    assert replicas.input_context == te.distribute.InputContext(3, 2, 3)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("[gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]:1234"),
        RuntimeError("Timed out waiting 20000ms for recv operation to complete"),
        ConnectionResetError("Connection reset by peer"),
        torch.distributed.DistBackendError("NCCL communicator was aborted"),
    ],
)
def test_failed_collectives_become_a_named_error(error):
    replicas = ProcessGroupReplicas(rank=1, world_size=2, timeout_secs=5.0)
    with (
        pytest.raises(
            DistributedTrainingError, match=r"rank 1 of 2.*died or stopped responding.*5.0 s"
        ) as info,
        replicas.collective_errors(),
    ):
        raise error
    assert info.value.__cause__ is error


def test_other_errors_pass_through():
    replicas = ProcessGroupReplicas(rank=0, world_size=2)
    with pytest.raises(ValueError, match="a model bug"), replicas.collective_errors():
        raise ValueError("a model bug")
    with pytest.raises(RuntimeError, match="shape mismatch"), replicas.collective_errors():
        raise RuntimeError("shape mismatch in matmul")


def test_input_fn_gets_one_pipeline_when_training_alone(tmp_path):
    seen = []

    def input_fn(input_context):
        seen.append(input_context)
        return torch.ones(2, 1), torch.ones(2, 1)

    def model_fn(features, labels, mode):
        loss = ((te.layers.dense(features, 1) - labels) ** 2).mean()
        op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
        return te.EstimatorSpec(mode, loss=loss, train_op=op)

    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    te.Estimator(model_fn, model_dir=str(tmp_path), config=config).train(input_fn, steps=1)
    assert seen == [te.distribute.InputContext(1, 0, 1)]


def test_local_replica_votes_with_its_own_clock():
    stop, now = LocalReplica().any_with_chief_time(True)
    assert stop is True
    assert isinstance(now, float)
