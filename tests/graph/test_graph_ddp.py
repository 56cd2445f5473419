"""A DDP-wrapped Graph over two gloo processes keeps its replicas equal (DESIGN 2).

Each rank trains on its own data. DDP averages the gradients, so with equal batch sizes and a
mean-squared loss the replicas follow exactly the single-process run on both ranks' data
concatenated, and differ from a single-process run on rank 0's data alone.
"""

import datetime
import os
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.distribute import DDPStrategy
from torch_estimator.graph import Graph, get_or_create_global_step, get_variable
from torch_estimator.graph import initializers as init
from torch_estimator.train import Optimizer

pytestmark = pytest.mark.distributed

WORLD_SIZE = 2
STEPS = 5
TIMEOUT_S = 120
# DDP options tried, each on its own Graph in the same two processes, wrapped by DDPStrategy as the
# Estimator does. find_unused_parameters makes DDP rebuild the output through torch's pytree (an
# EstimatorSpec(*fields) call).
VARIANTS = {
    "default": {},
    "find_unused_parameters": {"find_unused_parameters": True},
}


def model_fn(features, labels, mode):
    w = get_variable("linear/w", [3, 1])
    b = get_variable("linear/b", [1], initializer=init.zeros())
    loss = ((features @ w + b - labels) ** 2).mean()
    train_op = Optimizer(torch.optim.SGD, lr=0.1).minimize(loss, global_step=get_or_create_global_step())
    return EstimatorSpec(mode, loss=loss, train_op=train_op)


def rank_data(rank):
    generator = torch.Generator().manual_seed(100 + rank)
    features = torch.randn(4, 3, generator=generator)
    labels = torch.randn(4, 1, generator=generator)
    return features, labels


def built_graph(seed, features, labels):
    torch.manual_seed(seed)
    graph = Graph(model_fn)
    with graph.build(), torch.no_grad():
        graph(features, labels, ModeKeys.TRAIN)
    return graph


def train_rank(rank, port, out_dir):
    """Runs in a spawned process: trains each DDP variant and reports its variables."""
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        features, labels = rank_data(rank)
        report = {}
        for variant, options in VARIANTS.items():
            # Different initial values per rank: DDP must broadcast rank 0's.
            graph = built_graph(rank, features, labels)
            ddp = DDPStrategy(**options).wrap(graph, torch.device("cpu"))
            assert isinstance(ddp, DistributedDataParallel)
            spec_types = set()
            try:
                for _ in range(STEPS):
                    spec = ddp(features, labels, ModeKeys.TRAIN)
                    spec_types.add(type(spec).__name__)
                    spec.train_op.run()
            except Exception as err:  # reported to the parent, which fails the test with it
                report[variant] = {"error": f"{type(err).__name__}: {err}"}
                continue
            state = {name: tensor.detach().clone() for name, tensor in graph.state_dict().items()}
            flat = torch.cat([tensor.double().reshape(-1) for tensor in state.values()])
            gathered = [torch.empty_like(flat) for _ in range(WORLD_SIZE)]
            dist.all_gather(gathered, flat)
            report[variant] = {
                "state": state,
                "replicas_equal": all(torch.equal(gathered[0], other) for other in gathered[1:]),
                "spec_types": sorted(spec_types),
            }
        dist.barrier()
        torch.save(report, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()
    # Leave without the interpreter's teardown: on a loaded machine gloo's background threads can
    # abort a process at exit ("terminate called without an active exception") after its report
    # was written, which the parent would read as a failure.
    os._exit(0)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_two_ranks(out_dir):
    context = mp.start_processes(
        train_rank, args=(free_port(), str(out_dir)), nprocs=WORLD_SIZE, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f"the two DDP processes did not finish within {TIMEOUT_S} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    return [torch.load(out_dir / f"rank{rank}.pt", weights_only=True) for rank in range(WORLD_SIZE)]


def single_process_run(features, labels):
    graph = built_graph(0, features, labels)
    for _ in range(STEPS):
        graph(features, labels, ModeKeys.TRAIN).train_op.run()
    return graph.state_dict()


@pytest.fixture(scope="module")
def rank_reports(tmp_path_factory):
    return run_two_ranks(tmp_path_factory.mktemp("ddp"))


@pytest.mark.timeout(TIMEOUT_S + 30)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_ddp_replicas_stay_equal_and_average_gradients(rank_reports, variant):
    reports = [report[variant] for report in rank_reports]
    assert [report.get("error") for report in reports] == [None, None]
    assert [report["replicas_equal"] for report in reports] == [True, True]
    assert [report["spec_types"] for report in reports] == [["EstimatorSpec"], ["EstimatorSpec"]]
    state = reports[0]["state"]
    assert list(state) == ["linear/w", "linear/b", "global_step"]
    assert state["global_step"].item() == STEPS

    rank0 = rank_data(0)
    both = [torch.cat(parts) for parts in zip(rank0, rank_data(1), strict=True)]
    alone = single_process_run(*rank0)
    together = single_process_run(*both)
    torch.testing.assert_close(state, together)
    assert not torch.allclose(state["linear/w"], alone["linear/w"])


def test_static_graph_is_refused_with_the_reason():
    """static_graph=True: DDP rebuilds the spec with loss passed through its _DDPSink, whose backward
    queues the first iteration's (delayed) gradient all-reduce. The TrainOp from minimize
    backpropagates the loss it captured inside model_fn, not spec.loss, so the sink would never run,
    step 1's gradients would not be averaged and the replicas would drift apart silently."""
    with pytest.raises(ValueError, match=r"static_graph=True\) is not supported.*drift apart"):
        DDPStrategy(static_graph=True)
