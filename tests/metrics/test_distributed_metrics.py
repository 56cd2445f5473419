"""Distributed evaluation over two gloo processes gives the single-process metrics (issue 4).

The parent trains a 4 -> 3 softmax classifier for a few steps and checks single-process evaluations;
then two spawned ranks restore that checkpoint and each evaluate their share of the batches:

* "halves": six batches of 4, ranks 0 and 1 take three each (model_dir/eval).
* "uneven": the first five batches, rank 0 takes two and rank 1 three (model_dir/eval_uneven).

Both ranks must return the single-process value of every te.metrics function and torchmetrics
object, and 'loss' must be the mean of the per-batch losses over every rank's batches: for
"uneven", (l0 + l1 + l2 + l3 + l4) / 5, not the mean of the ranks' means ((l0 + l1) / 2 +
(l2 + l3 + l4) / 3) / 2. A plain update/compute/reset object cannot sync, so it stays local (its
example count is 12 on each rank for "halves", 8 and 12 for "uneven") and a warning names it.
Only rank 0 writes eval summaries. Ranks whose model_fn makes different metrics both get a
ValueError instead of a hang or mixed-up sums.
"""

import datetime
import logging
import os
import pickle

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
import torchmetrics

import torch_estimator as te
from torch_estimator.summary import EVENT_FILE_PATTERN, read_eval_metrics

pytestmark = pytest.mark.distributed

WORLD_SIZE = 2
TIMEOUT_S = 120
NUM_CLASSES = 3
BATCH_SIZE = 4
# scenario -> (eval name, the batch indices of each rank)
SCENARIOS = {
    "halves": (None, ([0, 1, 2], [3, 4, 5])),
    "uneven": ("uneven", ([0, 1], [2, 3, 4])),
}
LOCAL_ONLY = "example_count"  # the plain Metric object: never synced


class ExampleCounter:
    """A hand-written Metric object (not torchmetrics): counts examples, cannot sync across ranks."""

    def __init__(self):
        self.count = 0

    def update(self, labels):
        self.count += len(labels)

    def compute(self):
        return self.count

    def reset(self):
        self.count = 0


def model_fn(features, labels, mode):
    logits = te.layers.dense(features, NUM_CLASSES, name="logits")
    per_example = F.cross_entropy(logits, labels, reduction="none")
    loss = per_example.mean()
    if mode == te.ModeKeys.TRAIN:
        train_op = te.train.GradientDescentOptimizer(0.5).minimize(
            loss, global_step=te.train.get_global_step()
        )
        return te.EstimatorSpec(mode, loss=loss, train_op=train_op)
    probabilities = logits.softmax(-1)
    predicted = logits.argmax(-1)
    mean_loss = te.get_metric("mean_loss", torchmetrics.MeanMetric)
    mean_loss.update(per_example)
    # List state (all predictions kept): synced by gathering tensors of different lengths per rank.
    auroc = te.get_metric("auroc_class0", lambda: torchmetrics.classification.BinaryAUROC(thresholds=None))
    auroc.update(probabilities[:, 0], (labels == 0).long())
    counter = te.get_metric(LOCAL_ONLY, ExampleCounter)
    counter.update(labels)
    metrics = {
        "accuracy": te.metrics.accuracy(labels, predicted),
        "mean_top_probability": te.metrics.mean(probabilities.max(-1).values),
        "auc_class0": te.metrics.auc(labels == 0, probabilities[:, 0]),
        "precision_at_2": te.metrics.precision_at_k(labels, logits, k=2),
        "mean_iou": te.metrics.mean_iou(labels, predicted, num_classes=NUM_CLASSES),
        "torchmetrics_mean_loss": mean_loss,
        "torchmetrics_auroc_class0": auroc,
        LOCAL_ONLY: counter,
    }
    return te.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)


def all_batches():
    generator = torch.Generator().manual_seed(7)
    features = torch.randn(6 * BATCH_SIZE, 4, generator=generator)
    labels = torch.randint(0, NUM_CLASSES, (6 * BATCH_SIZE,), generator=generator)
    return list(zip(features.split(BATCH_SIZE), labels.split(BATCH_SIZE), strict=True))


def rank_dependent_model_fn(features, labels, mode):
    """Rank 0 keeps a scalar mean, rank 1 a per-column mean: metric states that cannot be summed."""
    mean = te.metrics.mean if dist.get_rank() == 0 else te.metrics.mean_tensor
    return te.EstimatorSpec(mode, loss=features.sum(), eval_metric_ops={"mean": mean(features)})


class Messages(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def evaluate_rank(rank, port, model_dir, out_dir):
    """Runs in a spawned process: evaluates this rank's batches of each scenario."""
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=datetime.timedelta(seconds=60),
    )
    messages = Messages()
    logging.getLogger("torch_estimator").addHandler(messages)
    try:
        batches = all_batches()
        estimator = te.Estimator(model_fn, model_dir=model_dir)
        report = {"pid": os.getpid()}
        for scenario, (name, shards) in SCENARIOS.items():
            mine = [batches[index] for index in shards[rank]]
            report[scenario] = estimator.evaluate(lambda mine=mine: mine, name=name)
        report["warnings"] = messages.messages
        mismatched = te.Estimator(rank_dependent_model_fn, model_dir=os.path.join(out_dir, f"empty{rank}"))
        try:
            mismatched.evaluate(lambda: batches[:1])
        except ValueError as err:
            report["mismatch_error"] = str(err)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as file:
        pickle.dump(report, file)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, run_gloo_ranks):
    """The model_dir of a classifier trained 10 steps, single-process references, and both ranks' reports."""
    model_dir = tmp_path_factory.mktemp("model")
    batches = all_batches()
    estimator = te.Estimator(model_fn, model_dir=str(model_dir))
    estimator.train(lambda: batches * 2, steps=10)  # the input ends after 12 batches
    single = {
        scenario: estimator.evaluate(
            lambda shards=shards: [batches[index] for shard in shards for index in shard],
            name=f"single_{scenario}",
        )
        for scenario, (_, shards) in SCENARIOS.items()
    }
    batch_losses = [
        estimator.evaluate(lambda batch=batch: [batch], name="one_batch")["loss"] for batch in batches
    ]
    out_dir = tmp_path_factory.mktemp("reports")
    reports = run_gloo_ranks(
        evaluate_rank, (str(model_dir), str(out_dir)), out_dir, nprocs=WORLD_SIZE, timeout_s=TIMEOUT_S
    )
    return model_dir, single, batch_losses, reports


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_rank_returns_the_single_process_metrics(trained, scenario):
    _, single, _, reports = trained
    expected = single[scenario]
    assert expected["global_step"] == 10
    for rank, report in enumerate(reports):
        results = report[scenario]
        assert sorted(results) == sorted(expected), f"rank {rank}"
        for name, value in expected.items():
            if name != LOCAL_ONLY:
                np.testing.assert_allclose(results[name], value, rtol=1e-6, err_msg=f"rank {rank}: {name}")


@pytest.mark.timeout(TIMEOUT_S + 60)
def test_loss_is_the_mean_over_every_ranks_batches(trained):
    """halves: (l0 + ... + l5) / 6. uneven: (l0 + ... + l4) / 5, which differs from the mean of the
    ranks' means ((l0 + l1) / 2 + (l2 + l3 + l4) / 3) / 2."""
    _, _, losses, reports = trained
    halves, uneven = sum(losses) / 6, sum(losses[:5]) / 5
    mean_of_rank_means = (sum(losses[:2]) / 2 + sum(losses[2:5]) / 3) / 2
    assert abs(uneven - mean_of_rank_means) > 1e-4  # the data tell the two apart
    for report in reports:
        assert report["halves"]["loss"] == pytest.approx(halves, rel=1e-6)
        assert report["uneven"]["loss"] == pytest.approx(uneven, rel=1e-6)


@pytest.mark.timeout(TIMEOUT_S + 60)
def test_a_plain_metric_object_stays_local_and_is_named_in_a_warning(trained):
    _, _, _, reports = trained
    assert [report["halves"][LOCAL_ONLY] for report in reports] == [12, 12]
    assert [report["uneven"][LOCAL_ONLY] for report in reports] == [8, 12]
    for report in reports:
        warnings = [message for message in report["warnings"] if "cannot be synced" in message]
        assert len(warnings) == 2 and all(repr(LOCAL_ONLY) in message for message in warnings)


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_only_rank_0_writes_eval_summaries(trained, scenario):
    model_dir, single, _, reports = trained
    name, _ = SCENARIOS[scenario]
    eval_dir = model_dir / ("eval" if name is None else f"eval_{name}")
    event_files = sorted(eval_dir.glob(EVENT_FILE_PATTERN))
    # tensorboard names them events.out.tfevents.<time>.<host>.<pid>.<n>: one file, from rank 0.
    assert [path.name.split(".")[-2] for path in event_files] == [str(reports[0]["pid"])]
    written = read_eval_metrics(str(eval_dir))
    assert list(written) == [10]
    assert written[10]["loss"] == pytest.approx(single[scenario]["loss"], rel=1e-6)
    assert written[10]["accuracy"] == pytest.approx(single[scenario]["accuracy"])


@pytest.mark.timeout(TIMEOUT_S + 60)
def test_ranks_with_different_metrics_raise_instead_of_hanging(trained):
    _, _, _, reports = trained
    for report in reports:
        assert "same metrics on every rank" in report.get("mismatch_error", "no error")
