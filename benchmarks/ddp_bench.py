"""Data-parallel scaling of Estimator.train: W1 on 2 CPU processes under DDP vs 1 process.

    python benchmarks/ddp_bench.py [--reps 3] [--steps 600] [--procs 2]

W1 mlp-digits (MLP 64-256-256-10, Adam 1e-3, batch 256 per process) with the model_fn of
estimator_bench.py. Each run starts fresh processes launched as tf.estimator users do, through
TF_CONFIG (a chief and workers; the Estimator joins them in one gloo process group and wraps the
Graph in DDP); each process reads its share of the batches through input_context and times its
steady-state steps (after --warm steps) with a hook. Runs, alternating in each repetition:

* 1 process, 1 thread  -- the per-process baseline (each DDP process also gets 1 thread: 2 cores);
* 1 process, N threads -- the whole machine given to one process;
* N processes under DDP, 1 thread each;
* the same training as a hand-written loop, 1 process and N DDP processes (the reference).

Scaling efficiency = (examples/s of all N processes together) / (N x examples/s of the 1-thread
single process). Prints a markdown table of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

import torch_estimator as te

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
from estimator_bench import C, StepTimer, mlp_model_fn, tensor_batches  # noqa: E402

_LAUNCH_VARIABLES = ("TF_CONFIG", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def worker(model_dir: str, steps: int, warm: int, threads: int) -> None:
    """One training process: prints ``RESULT {json}`` with its steady-state examples/s."""
    torch.set_num_threads(threads)
    data = C.mlp_digits_data()

    def input_fn(input_context: te.distribute.InputContext) -> Any:
        return input_context.shard(tensor_batches(data, C.W1_B, True))

    hook = StepTimer(warm)
    config = te.RunConfig(model_dir=model_dir, tf_random_seed=C.SEED)  # TF's defaults otherwise
    te.Estimator(mlp_model_fn, config=config).train(input_fn, steps=warm + steps, hooks=[hook])
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    print("RESULT " + json.dumps({"rank": rank, "ex_per_s": hook.timer.rate(C.W1_B)}), flush=True)


def hand_written_worker(steps: int, warm: int, threads: int) -> None:
    """The same training as a hand-written DDP loop (the reference): prints ``RESULT {json}``."""
    torch.set_num_threads(threads)
    spec = te.distribute.process_group_spec(te.distribute.parse_tf_config(os.environ), {})
    if spec.distributed:
        torch.distributed.init_process_group(
            "gloo", init_method=spec.init_method, rank=spec.rank, world_size=spec.world_size
        )
    torch.manual_seed(C.SEED)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )
    wrapped = torch.nn.parallel.DistributedDataParallel(model) if spec.distributed else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    timer = C.Timer(warm)
    batches = te.distribute.shard(
        tensor_batches(C.mlp_digits_data(), C.W1_B, True), spec.world_size, spec.rank
    )
    for step, (x, y) in enumerate(batches):
        if step == warm + steps:
            break
        loss = torch.nn.functional.cross_entropy(wrapped(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        timer.tick()
    print("RESULT " + json.dumps({"rank": spec.rank, "ex_per_s": timer.rate(C.W1_B)}), flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(processes: int, threads: int, steps: int, warm: int, hand_written: bool = False) -> list[float]:
    """Starts ``processes`` training processes (TF_CONFIG when > 1); returns each one's examples/s."""
    model_dir = tempfile.mkdtemp(prefix="te_ddp_bench_")
    base_env = {key: value for key, value in os.environ.items() if key not in _LAUNCH_VARIABLES}
    cluster = {
        "chief": [f"127.0.0.1:{free_port()}"],
        "worker": [f"127.0.0.1:{free_port()}" for _ in range(processes - 1)],
    }
    tasks = [("chief", 0)] + [("worker", index) for index in range(processes - 1)]
    command = [sys.executable, __file__, "--worker", model_dir, "--steps", str(steps), "--warm", str(warm)]
    command += ["--threads", str(threads)] + (["--hand-written"] if hand_written else [])
    running = []
    try:
        for task_type, index in tasks:
            env = dict(base_env, OMP_NUM_THREADS=str(threads))
            if processes > 1:
                env["TF_CONFIG"] = json.dumps(
                    {"cluster": cluster, "task": {"type": task_type, "index": index}}
                )
            running.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True))
        outputs = [process.communicate()[0] for process in running]
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
        shutil.rmtree(model_dir, ignore_errors=True)
    rates = []
    for process, output in zip(running, outputs, strict=True):
        if process.returncode != 0:
            raise RuntimeError(f"a benchmark process failed with exit code {process.returncode}")
        line = [text for text in output.splitlines() if text.startswith("RESULT ")][-1]
        rates.append(json.loads(line.removeprefix("RESULT "))["ex_per_s"])
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=600, help="timed steps per process")
    parser.add_argument("--warm", type=int, default=100, help="untimed steps first")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--worker", metavar="MODEL_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--hand-written", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker and args.hand_written:
        return hand_written_worker(args.steps, args.warm, args.threads)
    if args.worker:
        return worker(args.worker, args.steps, args.warm, args.threads)
    one, whole, group, hand_one, hand_group = [], [], [], [], []
    for _ in range(args.reps):  # alternate, so drift hits every set-up alike
        one.append(launch(1, 1, args.steps, args.warm)[0])
        whole.append(launch(1, args.procs, args.steps, args.warm)[0])
        group.append(launch(args.procs, 1, args.steps, args.warm))
        hand_one.append(launch(1, 1, args.steps, args.warm, hand_written=True)[0])
        hand_group.append(launch(args.procs, 1, args.steps, args.warm, hand_written=True))
    single = statistics.median(one)
    per_process = statistics.median(statistics.mean(rates) for rates in group)
    total = statistics.median(sum(rates) for rates in group)
    print(f"W1 train, batch {C.W1_B} per process, {args.steps} timed steps, median of {args.reps}\n")
    print("| set-up | examples/s per process | examples/s in all |")
    print("|---|---|---|")
    print(f"| 1 process, 1 thread | {single:,.0f} | {single:,.0f} |")
    threaded = statistics.median(whole)
    print(f"| 1 process, {args.procs} threads | {threaded:,.0f} | {threaded:,.0f} |")
    print(f"| {args.procs} processes (DDP, gloo), 1 thread each | {per_process:,.0f} | {total:,.0f} |")
    hand_single = statistics.median(hand_one)
    hand_total = statistics.median(sum(rates) for rates in hand_group)
    print(f"| hand-written loop, 1 process, 1 thread | {hand_single:,.0f} | {hand_single:,.0f} |")
    print(
        f"| hand-written DDP loop, {args.procs} processes, 1 thread each | {hand_total / args.procs:,.0f} "
        f"| {hand_total:,.0f} |"
    )
    print(
        f"\nHand-written DDP scaling efficiency on this machine: "
        f"{hand_total / (args.procs * hand_single):.0%}."
    )
    print(
        f"Scaling efficiency: {total / (args.procs * single):.0%} of {args.procs} x the 1-thread process; "
        f"speed-up over the {args.procs}-thread process: {total / threaded:.2f}x"
    )


if __name__ == "__main__":
    main()
