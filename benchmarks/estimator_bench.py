"""Estimator vs a hand-written PyTorch loop vs tf.estimator 2.15, on the anchor workloads.

    python benchmarks/estimator_bench.py [--reps 3] [--only w3,w1]

Runs, side by side in this one process, alternating frameworks in each repetition:
* W3 step-overhead (Linear 10->1, SGD 0.01, batch 32): steps/s of a hand-written loop, of the same
  model_fn stepped by hand through a ``te.Graph`` (the Graph's own per-step cost), and of
  ``Estimator.train`` with its default hooks (summaries, step counter, logging, checkpoints).
* W1 mlp-digits (MLP 64-256-256-10, Adam 1e-3, batch 256): train examples/s (steady state), the
  wall time of construct + ``train(steps=2000)``, and whole ``evaluate()`` / ``predict()`` calls
  (restore included) in examples/s.
tf.estimator's figures are the medians in ../shared/bench/results.json (same machine kind, same data:
the data come from ../shared/bench/common.py). Prints a markdown table of medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import torch_estimator as te

# ../shared/bench beside the project, or where TE_BENCH_ANCHORS says (a copy taken to another machine).
ANCHORS = Path(os.environ.get("TE_BENCH_ANCHORS", Path(__file__).resolve().parents[2] / "shared" / "bench"))
sys.path.insert(0, str(ANCHORS))
import common as C  # noqa: E402  (the anchors' data, batcher and constants)


# ---------------------------------------------------------------- model_fns (as the tf anchors wrote them)
def mlp_model_fn(features: torch.Tensor, labels: torch.Tensor, mode: str) -> te.EstimatorSpec:
    net = te.layers.dense(features, 256, activation=torch.relu)
    net = te.layers.dense(net, 256, activation=torch.relu)
    logits = te.layers.dense(net, 10)
    classes = logits.argmax(1)
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions={"class_ids": classes, "probabilities": logits.softmax(1)})
    loss = F.cross_entropy(logits, labels)
    if mode == te.ModeKeys.EVAL:
        return te.EstimatorSpec(
            mode, loss=loss, eval_metric_ops={"accuracy": te.metrics.accuracy(labels, classes)}
        )
    train_op = te.train.AdamOptimizer(1e-3).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def linear_model_fn(features: torch.Tensor, labels: torch.Tensor, mode: str) -> te.EstimatorSpec:
    pred = te.layers.dense(features, 1)
    loss = F.mse_loss(pred, labels)
    train_op = te.train.GradientDescentOptimizer(C.W3_LR).minimize(
        loss, global_step=te.train.get_global_step()
    )
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def tensor_batches(arrays: tuple[Any, ...], batch: int, shuffle: bool, epochs: int | None = None):
    return (
        (torch.from_numpy(x), torch.from_numpy(y))
        for x, y in C.batches(arrays, batch, shuffle, epochs=epochs)
    )


class StepTimer(te.SessionRunHook):
    """The anchors' timer as a hook: steady state from the end of step `warm` to the last step."""

    def __init__(self, warm: int) -> None:
        self.timer = C.Timer(warm)

    def after_run(self, run_context: Any, run_values: Any) -> None:
        self.timer.tick()


def config(model_dir: str) -> te.RunConfig:
    return te.RunConfig(model_dir=model_dir, tf_random_seed=C.SEED)  # every other field at TF's default


# ---------------------------------------------------------------- hand-written references
def plain_w3_steps_per_s() -> float:
    torch.manual_seed(C.SEED)
    model = torch.nn.Linear(10, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=C.W3_LR)
    timer = C.Timer(C.W3_WARM)
    for i, (x, y) in enumerate(tensor_batches(C.linear_data(), C.W3_B, True)):
        if i == C.W3_WARM + C.W3_STEPS:
            break
        loss = F.mse_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i % 100 == 0:
            loss.item()
        timer.tick()
    return timer.rate()


def graph_w3_steps_per_s() -> float:
    """The model_fn run by hand through a Graph: no Estimator, no hooks: the Graph's own cost."""
    torch.manual_seed(C.SEED)
    graph = te.Graph(linear_model_fn)
    te.graph.create_global_step(graph)
    timer = C.Timer(C.W3_WARM)
    for i, (x, y) in enumerate(tensor_batches(C.linear_data(), C.W3_B, True)):
        if i == C.W3_WARM + C.W3_STEPS:
            break
        spec = graph(x, y, te.ModeKeys.TRAIN)
        spec.train_op()
        if i % 100 == 0:
            spec.loss.item()
        timer.tick()
    return timer.rate()


def estimator_w3_steps_per_s(model_dir: str) -> float:
    hook = StepTimer(C.W3_WARM)
    estimator = te.Estimator(linear_model_fn, config=config(model_dir))
    data = C.linear_data()
    estimator.train(lambda: tensor_batches(data, C.W3_B, True), steps=C.W3_WARM + C.W3_STEPS, hooks=[hook])
    return hook.timer.rate()


def plain_w1_train_ex_per_s() -> float:
    torch.manual_seed(C.SEED)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    timer = C.Timer(C.W1_WARM)
    for i, (x, y) in enumerate(tensor_batches(C.mlp_digits_data(), C.W1_B, True)):
        if i == C.W1_WARM + C.W1_STEPS:
            break
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i % 100 == 0:
            loss.item()
        timer.tick()
    return timer.rate(C.W1_B)


def estimator_w1(model_dir: str, data: tuple[Any, ...]) -> dict[str, float]:
    hook = StepTimer(C.W1_WARM)
    estimator = te.Estimator(mlp_model_fn, config=config(model_dir))
    estimator.train(lambda: tensor_batches(data, C.W1_B, True), steps=C.W1_WARM + C.W1_STEPS, hooks=[hook])
    n = len(data[0])
    start = time.perf_counter()
    estimator.evaluate(lambda: tensor_batches(data, C.W1_B, False, epochs=1))
    eval_rate = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in estimator.predict(
        lambda: tensor_batches(data, C.W1_B, False, epochs=1), yield_single_examples=False
    ):
        pass
    predict_rate = n / (time.perf_counter() - start)
    return {
        "train_ex_per_s": hook.timer.rate(C.W1_B),
        "eval_ex_per_s": eval_rate,
        "predict_ex_per_s": predict_rate,
    }


def estimator_w1_train_call_s(model_dir: str) -> float:
    """Construct + train(steps=2000) in a fresh process, as the anchors measured it (first calls included)."""
    output = subprocess.run(
        [sys.executable, __file__, "--traincall", model_dir], check=True, capture_output=True, text=True
    ).stdout
    return float(output.strip().splitlines()[-1])


def traincall_in_this_process(model_dir: str) -> None:
    data = C.mlp_digits_data()
    start = time.perf_counter()
    estimator = te.Estimator(mlp_model_fn, config=config(model_dir))
    estimator.train(lambda: tensor_batches(data, C.W1_B, True), steps=C.W1_STEPS)
    print(time.perf_counter() - start)


# ---------------------------------------------------------------- runner
def tf_median(workload: str, metric: str) -> float | None:
    results = json.loads((ANCHORS / "results.json").read_text())["results"]
    for row in results:
        if (
            row["framework"] == "tf.estimator"
            and row["workload"] == workload
            and row["metric"] == metric
            and not row.get("variant")
        ):
            return float(row["median"])
    return None


def fresh_dir() -> str:
    return tempfile.mkdtemp(prefix="te_bench_")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", default="w3,w1")
    parser.add_argument("--traincall", metavar="MODEL_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(2)  # as the anchors: one thread per core of the 2-core machine
    if args.traincall:
        return traincall_in_this_process(args.traincall)
    logging.basicConfig(level=logging.WARNING)
    only = set(args.only.split(","))
    rows: list[tuple[str, str, float, float | None, float | None, str]] = []
    dirs: list[str] = []

    def new_dir() -> str:
        dirs.append(fresh_dir())
        return dirs[-1]

    try:
        if "w3" in only:
            plain, graph, est = [], [], []
            for _ in range(args.reps):  # alternate, so drift hits every framework alike
                plain.append(plain_w3_steps_per_s())
                graph.append(graph_w3_steps_per_s())
                est.append(estimator_w3_steps_per_s(new_dir()))
            tf = tf_median("overhead", "steps_per_s")
            p = statistics.median(plain)
            rows.append(("W3 steps/s", "hand-written loop", p, None, None, "higher"))
            rows.append(("W3 steps/s", "te.Graph by hand", statistics.median(graph), p, tf, "higher"))
            rows.append(("W3 steps/s", "te.Estimator.train", statistics.median(est), p, tf, "higher"))
        if "w1" in only:
            data = C.mlp_digits_data()
            plain, est, calls = [], [], []
            for _ in range(args.reps):
                plain.append(plain_w1_train_ex_per_s())
                est.append(estimator_w1(new_dir(), data))
                calls.append(estimator_w1_train_call_s(new_dir()))
            p = statistics.median(plain)
            rows.append(("W1 train ex/s", "hand-written loop", p, None, None, "higher"))
            rows.append(
                (
                    "W1 train ex/s",
                    "te.Estimator.train",
                    statistics.median(r["train_ex_per_s"] for r in est),
                    p,
                    tf_median("mlp", "train_ex_per_s"),
                    "higher",
                )
            )
            rows.append(
                (
                    "W1 construct+train(2000) s",
                    "te.Estimator",
                    statistics.median(calls),
                    None,
                    tf_median("mlp", "train_call_s"),
                    "lower",
                )
            )
            rows.append(
                (
                    "W1 evaluate() ex/s",
                    "te.Estimator",
                    statistics.median(r["eval_ex_per_s"] for r in est),
                    None,
                    tf_median("mlp", "eval_ex_per_s"),
                    "higher",
                )
            )
            rows.append(
                (
                    "W1 predict() ex/s",
                    "te.Estimator",
                    statistics.median(r["predict_ex_per_s"] for r in est),
                    None,
                    tf_median("mlp", "predict_ex_per_s"),
                    "higher",
                )
            )
    finally:
        for path in dirs:
            shutil.rmtree(path, ignore_errors=True)

    print(f"| measure | run | median of {args.reps} | vs hand-written loop | vs tf.estimator 2.15 |")
    print("|---|---|---:|---:|---:|")
    for measure_name, run, value, plain, tf, better in rows:
        vs_plain = f"{value / plain:.2f}x" if plain else ""
        if tf is None:
            vs_tf = ""
        elif better == "lower":
            vs_tf = f"{tf / value:.2f}x faster (tf {tf:,.3g})"
        else:
            vs_tf = f"{value / tf:.2f}x (tf {tf:,.0f})"
        print(f"| {measure_name} | {run} | {value:,.4g} | {vs_plain} | {vs_tf} |")


if __name__ == "__main__":
    main()
