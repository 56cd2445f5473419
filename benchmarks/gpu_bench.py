"""W1 training on one CUDA GPU: Estimator.train against a hand-written loop, in float32, with bf16
autocast and with torch.compile.

    python benchmarks/gpu_bench.py [--reps 3] [--only w1,w1-wide]

Needs CUDA. Workloads, on the anchors' W1 data (../shared/bench, or ``TE_BENCH_ANCHORS``):
* ``w1``: the anchor's MLP 64-256-256-10, Adam 1e-3, batch 256; 100 warm-up steps, then 2000 timed.
  On a GPU this model is launch-bound: the figure is the framework's per-step cost.
* ``w1-wide``: the same MLP with 4096-unit hidden layers and batch 4352 (23 batches an epoch, so no
  partial batch recompiles); 30 warm-up steps, then 300 timed: the GPU's arithmetic dominates.

Each variant (precision "32" or "bf16-mixed", compile off or on) runs the hand-written loop and
``Estimator.train`` (``RunConfig(device="cuda", precision=..., compile=...)``, every other field at
TF's default: summaries, step counter, logging, checkpoints), alternating within each repetition.
Both read CPU batches and copy them to the GPU each step; the hand-written loop compiles the module
and wraps its forward pass in ``torch.autocast`` as the Estimator does. Steady state is timed from the
end of the last warm-up step to the end of the last step, with ``torch.cuda.synchronize`` at both
ends. Prints a markdown table of medians (examples/s) and the Estimator / hand-written ratio.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

import torch_estimator as te

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimator_bench import C, tensor_batches


class Workload(NamedTuple):
    name: str
    hidden: int
    batch: int
    warm: int
    steps: int


WORKLOADS = {
    "w1": Workload("w1", 256, C.W1_B, C.W1_WARM, C.W1_STEPS),
    "w1-wide": Workload("w1-wide", 4096, 17 * C.W1_B, 30, 300),
}
VARIANTS = "32,bf16-mixed,32+compile,bf16-mixed+compile"


def mlp_model_fn_of(hidden: int) -> Callable[..., te.EstimatorSpec]:
    def model_fn(features: torch.Tensor, labels: torch.Tensor, mode: str) -> te.EstimatorSpec:
        net = te.layers.dense(features, hidden, activation=torch.relu)
        net = te.layers.dense(net, hidden, activation=torch.relu)
        logits = te.layers.dense(net, 10)
        loss = F.cross_entropy(logits.float(), labels)
        train_op = te.train.AdamOptimizer(1e-3).minimize(loss, global_step=te.train.get_global_step())
        return te.EstimatorSpec(mode, loss=loss, train_op=train_op)

    return model_fn


class CudaTimer:
    """Examples/s from the end of step ``warm`` to the end of step ``warm + steps``, GPU work included."""

    def __init__(self, warm: int, steps: int, batch: int) -> None:
        self.warm, self.last, self.batch = warm, warm + steps, batch
        self.count = 0
        self.start = self.end = 0.0

    def tick(self) -> None:
        self.count += 1
        if self.count in (self.warm, self.last):
            torch.cuda.synchronize()
            if self.count == self.warm:
                self.start = time.perf_counter()
            else:
                self.end = time.perf_counter()

    def rate(self) -> float:
        return (self.last - self.warm) * self.batch / (self.end - self.start)


class TimerHook(te.SessionRunHook):
    def __init__(self, timer: CudaTimer) -> None:
        self.timer = timer

    def after_run(self, run_context: Any, run_values: Any) -> None:
        self.timer.tick()


def plain_ex_per_s(work: Workload, data: tuple[Any, ...], precision: str, compile_: bool) -> float:
    torch.manual_seed(C.SEED)
    device = torch.device("cuda")
    model = torch.nn.Sequential(
        torch.nn.Linear(64, work.hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(work.hidden, work.hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(work.hidden, 10),
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    forward = torch.compile(model) if compile_ else model
    timer = CudaTimer(work.warm, work.steps, work.batch)
    for i, (x, y) in enumerate(tensor_batches(data, work.batch, True)):
        if i == work.warm + work.steps:
            break
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if precision != "32" else nullcontext()
        with autocast:
            logits = forward(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i % 100 == 0:
            loss.item()  # what the Estimator's loss summary and logging read
        timer.tick()
    return timer.rate()


def estimator_ex_per_s(
    work: Workload, data: tuple[Any, ...], precision: str, compile_: bool, model_dir: str
) -> float:
    timer = CudaTimer(work.warm, work.steps, work.batch)
    config = te.RunConfig(
        model_dir=model_dir, tf_random_seed=C.SEED, device="cuda", precision=precision, compile=compile_
    )
    estimator = te.Estimator(mlp_model_fn_of(work.hidden), config=config)
    estimator.train(
        lambda: tensor_batches(data, work.batch, True),
        steps=work.warm + work.steps,
        hooks=[TimerHook(timer)],
    )
    return timer.rate()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", default="w1,w1-wide")
    parser.add_argument("--variants", default=VARIANTS, help="precision[+compile], comma-separated")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_bench.py needs CUDA: torch.cuda.is_available() is False on this machine.")
    logging.basicConfig(level=logging.WARNING)
    data = C.mlp_digits_data()
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(
        "| workload | precision | compile | hand-written ex/s | Estimator ex/s "
        f"| ratio (median of {args.reps}) |"
    )
    print("|---|---|---|---:|---:|---:|")
    for name in args.only.split(","):
        work = WORKLOADS[name]
        for variant in args.variants.split(","):
            precision, _, compiled = variant.partition("+")
            compile_ = compiled == "compile"
            plain, est = [], []
            for _ in range(args.reps):  # alternate, so drift hits both alike
                plain.append(plain_ex_per_s(work, data, precision, compile_))
                model_dir = tempfile.mkdtemp(prefix="te_gpu_bench_")
                try:
                    est.append(estimator_ex_per_s(work, data, precision, compile_, model_dir))
                finally:
                    shutil.rmtree(model_dir, ignore_errors=True)
            p, e = statistics.median(plain), statistics.median(est)
            print(f"| {name} | {precision} | {compile_} | {p:,.0f} | {e:,.0f} | {e / p:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
