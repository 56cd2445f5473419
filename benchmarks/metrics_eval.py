"""Evaluate throughput with ten te.metrics against none, on the W1 model (MLP 64-256-256-10).

    python benchmarks/metrics_eval.py [--reps 5] [--batches 391] [--threads 2] [--warmup 2] [--breakdown]
                                      [--bytecodes]

W1's shapes (batch 256, 391 batches, 64 features, 10 classes) on random data: metric cost does not
depend on the values. Each repetition times a whole ``Estimator.evaluate`` with the plain model_fn
(the loss only) and with the ten metrics TF's classification heads add, computed as they compute
them: the multi-class head's accuracy and average_loss over the 10 classes, and the binary head's
accuracy, precision, recall, prediction/mean, label/mean, accuracy_baseline, ROC AUC and PR AUC
(200 thresholds, careful interpolation) for class 0 against the rest. That ratio is the target
(>= 0.8). A third model_fn adds four metrics no head adds (mean per-class accuracy, mean IoU,
recall@5, average precision@5), reported beside it.

Two untimed rounds of the three evaluates come first: a process's first evaluates with metrics grow
glibc's heap to its working size, page by page, once. Prints examples/s (best and median runs) and
the ratios. Examples/s are also given per CPU second of the process (all its threads): on a machine
shared with other jobs, waiting for a core inflates wall time but not CPU time, so that ratio is the
steadier. The last row gives the median minor page faults per batch: tens of faults per batch mean
a heap handed back to the system after each flush of the metrics and faulted in again, which
``torch_estimator/metrics/heap.py`` prevents.

``--breakdown`` adds two model_fns between the loss only and the ten metrics, to say where the gap
goes: one computes the tensors the heads feed their metrics and returns the loss only (the model's
own work), the next also calls the ten metric functions but returns no eval_metric_ops (the calls).
What remains up to the ten metrics is the framework's per-batch rest: checking the pairs, running
the update ops, folding the queued batches, and the final values.

``--bytecodes`` adds what does not depend on the machine's noise: the Python bytecodes and Python
calls each model_fn's ``evaluate`` runs per batch (counted by ``sys.settrace``, so slowly: after the
timing). A batch is the difference between an evaluate of all the batches and one of the first
``SHORT`` (the setup and the final values cancel; the folds, every 85 batches, are spread over the
rest). Timed in the loop, the metrics' Python costs about twice what it costs on its own: the model
between two calls evicts the interpreter's caches. The counts say which change removes work even
when the clock cannot tell.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import resource
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from torch_estimator.canned.heads.metric_ops import accuracy_baseline
from torch_estimator.contract.spec import EstimatorSpec
from torch_estimator.distribute.run_config import RunConfig
from torch_estimator.estimator import Estimator
from torch_estimator.layers import dense
from torch_estimator.metrics import (
    accuracy,
    auc,
    average_precision_at_k,
    mean,
    mean_iou,
    mean_per_class_accuracy,
    precision,
    recall,
    recall_at_k,
)

BATCH, FEATURES, CLASSES = 256, 64, 10
SHORT = 10
"""``--bytecodes``: batches of the short evaluate whose counts are taken from the long one's."""
RATIO_NAMES = {
    "+ head tensors": "head tensors",
    "+ metric calls": "metric calls",
    "+ 10 head metrics": "head metrics (target >= 0.8)",
    "+ 4 more": "14 metrics",
}


def logits_of(features: torch.Tensor) -> torch.Tensor:
    net = dense(features, 256, activation=torch.relu)
    net = dense(net, 256, activation=torch.relu)
    return dense(net, CLASSES)


def plain_model_fn(features: torch.Tensor, labels: torch.Tensor, mode: str) -> EstimatorSpec:
    return EstimatorSpec(mode, loss=F.cross_entropy(logits_of(features), labels))


def head_inputs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """What the heads feed their metrics: per-example loss, and for class 0 against the rest the
    labels, probability and prediction. One log-softmax gives the loss and the probability."""
    log_probabilities = logits.log_softmax(-1)
    per_example = F.nll_loss(log_probabilities, labels, reduction="none")
    is_first = (labels == 0).float()  # a binary head's labels are floats in [0, 1]
    first_probability = log_probabilities[:, 0].exp()
    predicted_first = (first_probability > 0.5).float()
    return per_example, is_first, first_probability, predicted_first


def head_metrics(
    logits: torch.Tensor, classes: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, dict]:
    """The mean loss and the ten metric pairs of the heads (module docstring)."""
    per_example, is_first, first_probability, predicted_first = head_inputs(logits, labels)
    label_mean = mean(is_first, name="label/mean/first")
    metrics = {
        "accuracy": accuracy(labels, classes),
        "average_loss": mean(per_example, name="average_loss"),
        "accuracy/first": accuracy(is_first, predicted_first, name="accuracy/first"),
        "precision/first": precision(is_first, predicted_first, name="precision/first"),
        "recall/first": recall(is_first, predicted_first, name="recall/first"),
        "prediction/mean/first": mean(first_probability, name="prediction/mean/first"),
        "label/mean/first": label_mean,
        "accuracy_baseline/first": accuracy_baseline(label_mean, "accuracy_baseline/first"),
        "auc/first": auc(is_first, first_probability, name="auc/first"),
        "auc_precision_recall/first": auc(
            is_first,
            first_probability,
            curve="PR",
            summation_method="careful_interpolation",
            name="auc_precision_recall/first",
        ),
    }
    return per_example.mean(), metrics


def metrics_model_fn(features: torch.Tensor, labels: torch.Tensor, mode: str) -> EstimatorSpec:
    logits = logits_of(features)
    loss, metrics = head_metrics(logits, logits.argmax(-1), labels)
    return EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)


def head_tensors_model_fn(features: torch.Tensor, labels: torch.Tensor, mode: str) -> EstimatorSpec:
    """``--breakdown``: the tensors ``head_metrics`` computes, and no metric call."""
    logits = logits_of(features)
    logits.argmax(-1)  # the class ids metrics_model_fn computes for accuracy, computed and dropped
    per_example = head_inputs(logits, labels)[0]
    return EstimatorSpec(mode, loss=per_example.mean())


def metric_calls_model_fn(features: torch.Tensor, labels: torch.Tensor, mode: str) -> EstimatorSpec:
    """``--breakdown``: ``head_metrics`` whole, its pairs dropped (no update op runs)."""
    logits = logits_of(features)
    loss, _ = head_metrics(logits, logits.argmax(-1), labels)
    return EstimatorSpec(mode, loss=loss)


def more_metrics_model_fn(features: torch.Tensor, labels: torch.Tensor, mode: str) -> EstimatorSpec:
    logits = logits_of(features)
    classes = logits.argmax(-1)
    loss, metrics = head_metrics(logits, classes, labels)
    metrics.update(
        mean_per_class_accuracy=mean_per_class_accuracy(labels, classes, CLASSES),
        mean_iou=mean_iou(labels, classes, CLASSES),
        recall_at_5=recall_at_k(labels, logits, k=5),
        average_precision_at_5=average_precision_at_k(labels, logits, k=5),
    )
    return EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)


def evaluate_ex_per_s(
    model_fn, model_dir: str, data: list[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[float, float, float]:
    """Examples per wall-clock second and per CPU second of one whole ``evaluate``, and the minor
    page faults per batch it took."""
    estimator = Estimator(model_fn, config=RunConfig(model_dir=model_dir, tf_random_seed=0))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start, start_cpu = time.perf_counter(), time.process_time()
    estimator.evaluate(lambda: iter(data))
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    examples = len(data) * BATCH
    return examples / wall, examples / max(cpu, 1e-9), faults / len(data)


def python_work(run) -> tuple[int, int]:
    """The Python bytecodes and Python calls ``run()`` executes in this thread."""
    bytecodes = calls = 0

    def trace(frame, event, arg):
        nonlocal bytecodes, calls
        frame.f_trace_opcodes = True
        if event == "opcode":
            bytecodes += 1
        elif event == "call":
            calls += 1
        return trace

    sys.settrace(trace)
    try:
        run()
    finally:
        sys.settrace(None)
    return bytecodes, calls


def python_work_per_batch(
    model_fn, model_dir: str, data: list[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[float, float]:
    """Python bytecodes and Python calls per batch of ``evaluate`` (``--bytecodes``, module docstring)."""

    def work_of(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[int, int]:
        config = RunConfig(model_dir=f"{model_dir}-{len(batches)}", tf_random_seed=0)
        estimator = Estimator(model_fn, config=config)
        return python_work(lambda: estimator.evaluate(lambda: iter(batches)))

    (short_codes, short_calls), (long_codes, long_calls) = work_of(data[:SHORT]), work_of(data)
    counted = len(data) - SHORT
    return (long_codes - short_codes) / counted, (long_calls - short_calls) / counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--batches", type=int, default=391)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds of the evaluates")
    parser.add_argument("--breakdown", action="store_true", help="two more model_fns (module docstring)")
    parser.add_argument("--bytecodes", action="store_true", help="Python work per batch (module docstring)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("torch_estimator").setLevel(logging.ERROR)  # "Could not find trained model"
    rs = np.random.RandomState(0)
    data = [
        (
            torch.from_numpy(rs.uniform(size=(BATCH, FEATURES)).astype(np.float32)),
            torch.from_numpy(rs.randint(0, CLASSES, size=BATCH)),
        )
        for _ in range(args.batches)
    ]
    model_fns = {"loss only": plain_model_fn}
    if args.breakdown:
        model_fns.update({"+ head tensors": head_tensors_model_fn, "+ metric calls": metric_calls_model_fn})
    model_fns.update({"+ 10 head metrics": metrics_model_fn, "+ 4 more": more_metrics_model_fn})
    runs: dict[str, list[tuple[float, float, float]]] = {label: [] for label in model_fns}
    with tempfile.TemporaryDirectory() as root:
        # Imports, and the allocator: a process's first evaluates with metrics grow glibc's heap to
        # its working size (one-time page faults); what is timed is the steady state after them.
        for rep in range(args.warmup):
            for index, model_fn in enumerate(model_fns.values()):
                evaluate_ex_per_s(model_fn, f"{root}/warm-{index}-{rep}", data)
        for rep in range(args.reps):  # alternate, so drift hits all alike
            for index, (label, model_fn) in enumerate(model_fns.items()):
                runs[label].append(evaluate_ex_per_s(model_fn, f"{root}/{index}-{rep}", data))
        work = {}
        if args.bytecodes and len(data) > SHORT:
            for index, (label, model_fn) in enumerate(model_fns.items()):
                work[label] = python_work_per_batch(model_fn, f"{root}/count-{index}", data)
    labels = list(model_fns)
    ratio_headers = [f"ratio, {RATIO_NAMES[label]}" for label in labels[1:]]
    print(f"| evaluate() ex/s ({args.reps} runs each) | {' | '.join(labels + ratio_headers)} |")
    print("|---|" + "---:|" * (2 * len(labels) - 1))
    # Best and median: on a shared machine the best run is the one least disturbed by others.
    for clock, column in (("wall", 0), ("CPU", 1)):
        for summary, pick in (("best", max), ("median", statistics.median)):
            rates = [pick([run[column] for run in runs[label]]) for label in labels]
            cells = " | ".join(f"{rate:,.0f}" for rate in rates)
            ratios = " | ".join(f"{rate / rates[0]:.3f}" for rate in rates[1:])
            print(f"| {summary}, per {clock} s | {cells} | {ratios} |")
    faults = " | ".join(f"{statistics.median(run[2] for run in runs[label]):.1f}" for label in labels)
    print(f"| median minor page faults per batch | {faults} |" + " |" * (len(labels) - 1))
    if args.breakdown:
        print()
        print("| per batch, from the medians per wall s | us |")
        print("|---|---:|")
        rates = {label: statistics.median(run[0] for run in runs[label]) for label in labels}
        micros = {label: BATCH / rate * 1e6 for label, rate in rates.items()}
        for before, after in itertools.pairwise(labels[:4]):
            print(f"| {after.removeprefix('+ ')} | {micros[after] - micros[before]:+.1f} |")
    if work:
        print()
        print(f"| Python work per batch | {' | '.join(labels)} |")
        print("|---|" + "---:|" * len(labels))
        for name, column in (("bytecodes", 0), ("calls", 1)):
            print(f"| {name} | {' | '.join(f'{work[label][column]:,.0f}' for label in labels)} |")


if __name__ == "__main__":
    main()
