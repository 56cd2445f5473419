"""Deferred, batched updates: update ops queue their batches and states fold them in bulk.

The value must not depend on when the folds happen (test_split_merge checks every metric: folding
each batch in its update op, flush_size 1, or many at once give the same values).
"""

from __future__ import annotations

import pytest
import torch

from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph
from torch_estimator.metrics import (
    MetricState,
    MetricValue,
    UpdateOp,
    accuracy,
    auc,
    average_precision_at_k,
    mean,
    mean_iou,
    metric_states,
    precision,
    recall_at_k,
)
from torch_estimator.metrics.memo import FoldMemo
from torch_estimator.metrics.state import PendingFolds, UpdateOps

EVAL = ModeKeys.EVAL


@pytest.fixture
def flush_size():
    """Sets MetricState.flush_size for one test."""
    original = MetricState.flush_size

    def set_size(size: int) -> None:
        MetricState.flush_size = size

    yield set_size
    MetricState.flush_size = original


def graph_of(metrics_fn):
    def model_fn(features, labels, mode):
        return EstimatorSpec(mode, loss=torch.zeros(()), eval_metric_ops=metrics_fn(features, labels))

    return Graph(model_fn)


def run_batch(graph, features, labels=None):
    spec = graph(features, labels, EVAL)
    with torch.no_grad():
        for name in sorted(spec.eval_metric_ops):
            spec.eval_metric_ops[name][1].run()
    return spec


def test_update_ops_queue_batches_until_a_read(flush_size):
    """mean of [1, 2] and [3, 6]: both batches wait in the state; reading folds them: 12 / 4 = 3."""
    flush_size(1000)
    graph = graph_of(lambda features, labels: {"m": mean(features)})
    run_batch(graph, torch.tensor([1.0, 2.0]))
    spec = run_batch(graph, torch.tensor([3.0, 6.0]))
    (state,) = metric_states(graph)
    assert state.pending == 2
    assert float(spec.eval_metric_ops["m"][0].compute()) == 3.0
    assert state.pending == 0


def test_reading_the_state_folds_pending_batches_first(flush_size):
    """state[name], named_tensors and tensors() (what an all_reduce sums) all see every batch."""
    flush_size(1000)
    graph = graph_of(lambda features, labels: {"m": mean(features)})
    run_batch(graph, torch.tensor([1.0, 2.0]))
    (state,) = metric_states(graph)
    assert [float(tensor) for tensor in state.tensors()] == [3.0, 2.0]
    run_batch(graph, torch.tensor([4.0]))
    assert float(state["total"]) == 7.0
    run_batch(graph, torch.tensor([5.0]))
    assert float(state.named_tensors["count"]) == 4.0


def test_pending_batches_stay_within_the_flush_size_and_one_batch(flush_size):
    """flush_size 10 elements, batches of 4 labels + 4 predictions: the third batch finds 16
    pending elements and folds them before it queues, and so on."""
    flush_size(10)
    graph = graph_of(lambda features, labels: {"acc": accuracy(labels, features)})
    pending = []
    for step in range(5):
        run_batch(graph, torch.tensor([1, 0, 1, step % 2]), torch.tensor([1, 0, 0, 1]))
        (state,) = metric_states(graph)
        pending.append(state.pending)
    assert pending == [1, 2, 1, 2, 1]
    # predictions [1, 0, 1, step % 2] vs labels [1, 0, 0, 1]: right 2, 3, 2, 3, 2 of 4 -> 12 / 20
    assert float(state.pair[0].compute()) == pytest.approx(12 / 20)


def test_reset_drops_pending_batches(flush_size):
    flush_size(1000)
    graph = graph_of(lambda features, labels: {"m": mean(features)})
    run_batch(graph, torch.tensor([1.0, 2.0]))
    (state,) = metric_states(graph)
    state.reset()
    assert state.pending == 0
    assert [float(tensor) for tensor in state.tensors()] == [0.0, 0.0]


def test_batches_that_do_not_concatenate_are_folded_one_by_one(flush_size):
    """mean over [2, 2] values, then [3] values with weights, then a 0-d value: shapes and weights
    change, so the fold takes each batch alone. (1 + 2 + 3 + 4) + 5 * 2 (weight) + 6 = 26 over
    weight 4 + 2 + 1 = 7."""
    flush_size(1000)

    def metrics_fn(features, labels):
        return {"m": mean(features, weights=labels)}

    graph = graph_of(metrics_fn)
    run_batch(graph, torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    run_batch(graph, torch.tensor([5.0]), torch.tensor([2.0]))
    spec = run_batch(graph, torch.tensor(6.0))
    (state,) = metric_states(graph)
    assert state.pending == 3
    assert float(spec.eval_metric_ops["m"][0].compute()) == pytest.approx(26 / 7)


def test_zero_dimensional_batches_are_stacked(flush_size):
    """A scalar loss averaged with mean: batches 1, 2, 6 -> 3."""
    flush_size(1000)
    graph = graph_of(lambda features, labels: {"m": mean(features.sum())})
    for value in (1.0, 2.0, 6.0):
        spec = run_batch(graph, torch.tensor([value]))
    assert float(spec.eval_metric_ops["m"][0].compute()) == 3.0


def test_an_input_modified_in_place_after_its_update_raises(flush_size):
    """Update ops keep their inputs until the fold: refilling one tensor would fold wrong numbers."""
    flush_size(1000)
    buffer = torch.tensor([1.0, 2.0])
    graph = graph_of(lambda features, labels: {"m": mean(features)})
    spec = run_batch(graph, buffer)
    buffer.copy_(torch.tensor([3.0, 4.0]))
    with pytest.raises(RuntimeError, match=r"Metric 'mean': an input of its update op was modified in place"):
        spec.eval_metric_ops["m"][0].compute()


def test_inference_tensors_are_queued_unwatched(flush_size):
    """Inference tensors (what model_fn makes inside evaluate) have no version counter: their batch
    is queued like any other, with no version to check. mean of [1, 3] and [5]: 9 / 3 = 3. The
    state's own sums, made in inference mode too, are normal tensors."""
    flush_size(1000)
    graph = graph_of(lambda features, labels: {"m": mean(features)})
    with torch.inference_mode():
        batches = [torch.tensor([1.0, 3.0]), torch.tensor([5.0])]
        for batch in batches:
            spec = run_batch(graph, batch)
    (state,) = metric_states(graph)
    assert state.pending == 2
    assert state.group.versions == []  # nothing to check
    assert float(spec.eval_metric_ops["m"][0].compute()) == 3.0
    state.reset()  # the sums were made outside inference mode: zeroing them here is allowed
    assert [float(tensor) for tensor in state.tensors()] == [0.0, 0.0]


def test_metrics_fed_the_same_tensors_share_concatenations_and_intermediates(flush_size):
    """ROC and PR AUC of one probability column, accuracy and mean_iou of one label column, two
    top-k metrics of one score matrix: each shared piece is made once per flush, and every value
    matches a Graph where nothing is shared (flush_size 1)."""

    def metrics_fn(features, labels):
        is_first, first_probability = labels == 0, features.softmax(-1)[:, 0]
        classes = features.argmax(-1)
        return {
            "roc": auc(is_first, first_probability),
            "pr": auc(is_first, first_probability, curve="PR", summation_method="careful_interpolation"),
            "accuracy": accuracy(labels, classes),
            "iou": mean_iou(labels, classes, 3),
            "precision": precision(is_first, classes == 0),
            "recall_at_2": recall_at_k(labels, features, k=2),
            "ap_at_2": average_precision_at_k(labels, features, k=2),
        }

    generator = torch.Generator().manual_seed(0)
    batches = [
        (torch.randn(8, 3, generator=generator), torch.randint(0, 3, (8,), generator=generator))
        for _ in range(3)
    ]

    def values(size):
        flush_size(size)
        graph = graph_of(metrics_fn)
        for features, labels in batches:
            spec = run_batch(graph, features, labels)
        return graph, {name: pair[0].compute() for name, pair in spec.eval_metric_ops.items()}

    _, expected = values(1)
    graph, actual = values(1000)
    for name, value in expected.items():
        assert torch.allclose(actual[name], value, rtol=1e-6), name
    memo = next(metric_states(graph)).memo
    assert all(state.memo is memo for state in metric_states(graph))
    assert memo.purposes() == []  # dropped after the flush
    assert memo.made["threshold_histogram"] == 1  # ROC and PR
    assert memo.made["label_rank"] == 1  # recall and average precision
    # is_first, first_probability, labels, classes, classes == 0, the scores: each concatenated once
    assert memo.made["concatenate"] == 6


def test_fold_memo_keeps_results_by_input_identity_and_evicts_the_oldest():
    memo = FoldMemo(size=2)
    first, second = torch.tensor([1.0]), torch.tensor([2.0])
    calls = []

    def doubled(tensor):
        calls.append(tensor)
        return tensor * 2

    assert memo.get("double", (first,), lambda: doubled(first)) is memo.get(
        "double", (first,), lambda: doubled(first)
    )
    assert len(calls) == 1
    memo.get("double", (first,), lambda: doubled(first), params="other")  # other params: computed
    memo.get("double", (second,), lambda: doubled(second))  # evicts the oldest entry
    memo.get("double", (first,), lambda: doubled(first))
    assert len(calls) == 4
    assert torch.equal(memo.concatenate((torch.tensor(1.0), torch.tensor(2.0))), torch.tensor([1.0, 2.0]))


def test_batches_of_different_dtypes_are_folded_one_by_one(flush_size):
    """Labels as int64, then int32: concatenating would promote the dtypes, so each batch is folded
    alone. Right predictions 2 of 3, then 1 of 2: accuracy 3 / 5."""
    flush_size(1000)
    graph = graph_of(lambda features, labels: {"acc": accuracy(labels, features)})
    run_batch(graph, torch.tensor([1, 0, 1]), torch.tensor([1, 0, 0]))
    spec = run_batch(graph, torch.tensor([2, 2], dtype=torch.int32), torch.tensor([2, 1], dtype=torch.int32))
    (state,) = metric_states(graph)
    assert state.pending == 2
    assert float(spec.eval_metric_ops["acc"][0].compute()) == pytest.approx(3 / 5)


def test_the_memo_refuses_to_concatenate_different_dtypes():
    with pytest.raises(TypeError, match="do not concatenate"):
        FoldMemo().concatenate((torch.tensor([1]), torch.tensor([1.0])))


def test_an_input_of_any_pending_batch_modified_in_place_raises(flush_size):
    """The check covers every pending batch, not only the first or the last."""
    flush_size(1000)
    graph = graph_of(lambda features, labels: {"m": mean(features)})
    first, buffer, last = torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([3.0])
    for batch in (first, buffer, last):
        spec = run_batch(graph, batch)
    buffer.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        spec.eval_metric_ops["m"][0].compute()


def test_metrics_of_one_graph_fold_together_and_never_split_a_model_fn_call(flush_size):
    """Two metrics fed the same labels and predictions, flush_size 10, batches of 4 + 4 distinct
    elements: the third and fifth calls find 16 pending elements and fold both states' two batches
    before queueing theirs. Both states always hold the same batches, so each fold concatenates the
    labels and the predictions once for the two (4 concatenations in all, not 8). Right predictions
    per batch 2, 3, 2, 3, 2 of 4: accuracy 12 / 20."""
    flush_size(10)

    def metrics_fn(features, labels):
        return {"acc": accuracy(labels, features), "iou": mean_iou(labels, features, 2)}

    graph = graph_of(metrics_fn)
    pending = []
    for step in range(5):
        spec = run_batch(graph, torch.tensor([1, 0, 1, step % 2]), torch.tensor([1, 0, 0, 1]))
        pending.append([state.pending for state in metric_states(graph)])
    assert pending == [[1, 1], [2, 2], [1, 1], [2, 2], [1, 1]]
    memo = next(metric_states(graph)).memo
    assert memo.made["concatenate"] == 4
    assert float(spec.eval_metric_ops["acc"][0].compute()) == pytest.approx(12 / 20)
    assert all(state.pending == 0 for state in metric_states(graph))  # one read folds every state


def test_an_input_dropped_by_reset_may_change(flush_size):
    """reset() drops the state's pending batches; changing their tensors afterwards is harmless."""
    flush_size(1000)
    buffer = torch.tensor([1.0, 2.0])
    graph = graph_of(lambda features, labels: {"a": mean(features), "b": mean(labels)})
    spec = run_batch(graph, buffer, torch.tensor([4.0]))
    first = next(metric_states(graph))
    first.reset()
    buffer.add_(1.0)
    assert float(spec.eval_metric_ops["b"][0].compute()) == 4.0


def test_a_tensor_fed_again_after_a_reset_and_a_change_is_folded_with_its_new_values(flush_size):
    """reset() releases what the state queued: refilling that tensor and feeding it again is a new
    batch, not an in-place change of a queued one. mean of [2, 3] -> 2.5."""
    flush_size(1000)
    buffer = torch.tensor([1.0, 2.0])
    graph = graph_of(lambda features, labels: {"m": mean(features)})
    run_batch(graph, buffer)
    (state,) = metric_states(graph)
    state.reset()
    assert state.group.versions == [] and state.group.size == 0
    buffer.add_(1.0)
    spec = run_batch(graph, buffer)
    assert float(spec.eval_metric_ops["m"][0].compute()) == 2.5


def test_a_failing_fold_costs_the_other_metrics_nothing(flush_size):
    """Three states fold together; the middle one's fold raises. The first and last still fold
    their batch (sums 3 and 4), the error is raised, and the failing state holds nothing."""
    flush_size(1000)

    def fold(state, params, values):
        state["total"].add_(values.sum())

    def failing_fold(state, params, values):
        raise ValueError("bad batch")

    group = PendingFolds()
    states = [MetricState("sum", {"total": torch.zeros(())}, key=None, group=group) for _ in range(3)]
    for state, state_fold, values in zip(
        states, (fold, failing_fold, fold), ([1.0, 2.0], [5.0], [4.0]), strict=True
    ):
        state.defer(state_fold, None, (torch.tensor(values),))
    with pytest.raises(ValueError, match="bad batch"):
        group.flush()
    assert [state.pending for state in states] == [0, 0, 0]
    assert [float(state["total"]) for state in states] == [3.0, 0.0, 4.0]


def test_a_state_whose_batches_fail_to_concatenate_costs_the_other_metrics_nothing(flush_size, monkeypatch):
    """Three states with two batches each; concatenating the middle one's raises an error the
    concatenation does not expect. The first and last still fold (sums 3 and 9), the error is
    raised, and no state keeps a batch."""
    flush_size(1000)

    def fold(state, params, values):
        state["total"].add_(values.sum())

    group = PendingFolds()
    states = [MetricState("sum", {"total": torch.zeros(())}, key=None, group=group) for _ in range(3)]
    batches = [[torch.tensor([1.0]), torch.tensor([2.0])], [torch.tensor([5.0]), torch.tensor([6.0])]]
    batches.append([torch.tensor([4.0]), torch.tensor([5.0])])
    for state, (first, second) in zip(states, batches, strict=True):
        state.defer(fold, None, (first,))
        state.defer(fold, None, (second,))
    real_concatenate = FoldMemo.concatenate

    def concatenate(memo, parts):
        if parts[0] is batches[1][0]:
            raise ZeroDivisionError("unexpected")
        return real_concatenate(memo, parts)

    monkeypatch.setattr(FoldMemo, "concatenate", concatenate)
    with pytest.raises(ZeroDivisionError, match="unexpected"):
        group.flush()
    assert [state.pending for state in states] == [0, 0, 0]
    assert group.states == []
    assert [float(state["total"]) for state in states] == [3.0, 0.0, 9.0]


def test_the_memo_tells_apart_columns_with_the_same_ends_and_length():
    """(a, b, c) and (a, d, c) share their first and last part and their length: the second is
    concatenated afresh, [1, 4, 3], and both count as made."""
    memo = FoldMemo()
    a, b, c, d = (torch.tensor([value]) for value in (1, 2, 3, 4))
    assert memo.concatenate((a, b, c)).tolist() == [1, 2, 3]
    assert memo.concatenate((a, d, c)).tolist() == [1, 4, 3]
    assert memo.made["concatenate"] == 2


def test_a_tensor_from_outside_inference_mode_stays_watched_beside_inference_tensors(flush_size):
    """Labels made outside inference mode (input_fn's) and predictions made inside it (model_fn's),
    fed to a mean and an AUC: both batches queue, the labels with their version, so refilling them in
    place still raises at the fold."""
    flush_size(1000)
    labels = torch.tensor([1.0, 0.0])
    graph = graph_of(lambda features, labels: {"a_mean": mean(labels), "auc": auc(labels, features)})
    with torch.inference_mode():
        run_batch(graph, torch.tensor([0.9, 0.1]), labels)
    mean_state, auc_state = metric_states(graph)
    assert (mean_state.pending, auc_state.pending) == (1, 1)
    assert mean_state.group.versions == [(labels, labels._version)]  # counted and watched once
    labels.zero_()
    with pytest.raises(RuntimeError, match="Metric 'mean': an input of its update op was modified in place"):
        mean_state.flush()


def _sum_fold(state, params, *values):
    for value in values:
        state["total"].add_(value.sum())


def test_a_batch_with_another_number_of_inputs_folds_the_pending_ones_first(flush_size):
    """One fold given one input, then two, then two again: the first batch is folded before the
    second queues (a state's batches are queued flat, input count by input count); the total is
    1 + 2 + (3 + 4) + (5 + 6) = 21 either way."""
    flush_size(1000)
    state = MetricState("sum", {"total": torch.zeros(())}, key=None)
    state.defer(_sum_fold, None, (torch.tensor([1.0]),))
    state.defer(_sum_fold, None, (torch.tensor([2.0]),))
    assert state.pending == 2
    state.defer(_sum_fold, None, (torch.tensor([3.0]), torch.tensor([4.0])))
    assert state.pending == 1  # the two one-input batches were folded
    state.defer(_sum_fold, None, (torch.tensor([5.0]), torch.tensor([6.0])))
    assert state.pending == 2
    assert float(state["total"]) == 21.0


def test_an_update_op_with_no_input_is_rejected():
    state = MetricState("sum", {"total": torch.zeros(())}, key=None)
    with pytest.raises(ValueError, match="'sum': an update op must queue at least one input"):
        state.defer(_sum_fold, None, ())
    assert state.pending == 0


def test_a_tensor_given_to_several_metrics_counts_once_per_model_fn_call(flush_size):
    """accuracy and mean_iou share labels and predictions (4 + 4 elements a call): 8 pending
    elements after one call, 16 after two (each call's tensors are new)."""
    flush_size(1000)
    graph = graph_of(
        lambda features, labels: {"acc": accuracy(labels, features), "iou": mean_iou(labels, features, 2)}
    )
    run_batch(graph, torch.tensor([1, 0, 1, 1]), torch.tensor([1, 0, 0, 1]))
    group = next(metric_states(graph)).group
    assert group.size == 8
    run_batch(graph, torch.tensor([1, 0, 1, 0]), torch.tensor([1, 1, 0, 1]))
    assert group.size == 16


def test_update_ops_queue_as_running_each_update_op_does(flush_size):
    """What an evaluation runs per batch: the same rounds and folds as
    test_metrics_of_one_graph_fold_together_and_never_split_a_model_fn_call (flush_size 10, 8
    distinct elements a call), and a plain callable update op runs in name order, after the
    deferred ones named before it have queued their batch."""
    flush_size(10)
    seen = []

    def metrics_fn(features, labels):
        states = lambda: [state.pending for state in metric_states(graph)]  # noqa: E731
        return {
            "acc": accuracy(labels, features),
            "b_plain": (MetricValue(lambda: None), UpdateOp(lambda: seen.append(states()))),
            "iou": mean_iou(labels, features, 2),
        }

    graph = graph_of(metrics_fn)
    update_ops = UpdateOps()
    pending = []
    for step in range(5):
        spec = graph(torch.tensor([1, 0, 1, step % 2]), torch.tensor([1, 0, 0, 1]), EVAL)
        update_ops(spec.eval_metric_ops)
        pending.append([state.pending for state in metric_states(graph)])
    assert pending == [[1, 1], [2, 2], [1, 1], [2, 2], [1, 1]]
    # When "b_plain" runs, "acc" has queued this call's batch and "iou" not yet (calls 3 and 5
    # folded both states' two batches first).
    assert seen == [[1, 0], [2, 1], [1, 0], [2, 1], [1, 0]]
    assert float(spec.eval_metric_ops["acc"][0].compute()) == pytest.approx(12 / 20)


class BatchCounter:
    """A hand-written Metric object: counts its updates."""

    def __init__(self) -> None:
        self.updates = 0

    def update(self, *args) -> None:
        self.updates += 1

    def compute(self) -> int:
        return self.updates

    def reset(self) -> None:
        self.updates = 0


def test_update_ops_follow_the_pairs_model_fn_returns_on_each_batch(flush_size):
    """One UpdateOps runs a whole evaluation. model_fn returns "acc" and the plain "b_plain" on
    every call, "iou" on the second and third only, and a Metric object (updated by model_fn, no
    update op to run): each batch runs exactly the update ops of its own dict, in name order."""
    flush_size(1000)
    seen = []
    counter = BatchCounter()

    def metrics_fn(features, labels):
        counter.update()
        metrics = {
            "acc": accuracy(labels, features),
            "b_plain": (MetricValue(lambda: None), UpdateOp(lambda: seen.append(len(seen)))),
            "counter": counter,
        }
        if len(seen) in (1, 2):
            metrics["iou"] = mean_iou(labels, features, 2)
        return metrics

    graph = graph_of(metrics_fn)
    update_ops = UpdateOps()
    batches = [([1, 0, 1, 1], [1, 0, 0, 1]), ([1, 1, 0, 0], [1, 0, 0, 1]), ([0, 0, 0, 0], [1, 1, 1, 1])]
    for step, (features, labels) in enumerate(batches * 2):
        spec = graph(torch.tensor(features), torch.tensor(labels), EVAL)
        update_ops(spec.eval_metric_ops)
        assert seen == list(range(step + 1))
    accuracy_state, iou_state = metric_states(graph)
    assert (accuracy_state.pending, iou_state.pending) == (6, 2)
    # Right predictions: 3, 2 and 0 of 4, twice: 10 / 24.
    assert float(spec.eval_metric_ops["acc"][0].compute()) == pytest.approx(10 / 24)
    assert counter.updates == 6


def test_a_metric_function_returns_one_pair_whose_update_op_queues_its_latest_call(flush_size):
    """As TF's model_fn built each metric once: the second call of model_fn returns the first call's
    pair, and running that update op twice after the second call queues the second batch twice:
    mean of [5, 7, 5, 7] = 6 (the first batch, [1, 2], was never queued)."""
    flush_size(1000)
    graph = graph_of(lambda features, labels: {"m": mean(features)})
    first = graph(torch.tensor([1.0, 2.0]), None, EVAL).eval_metric_ops["m"]
    second = graph(torch.tensor([5.0, 7.0]), None, EVAL).eval_metric_ops["m"]
    assert second is first
    first[1].run()
    UpdateOps()({"m": second})
    (state,) = metric_states(graph)
    assert state.pending == 2
    assert float(second[0].compute()) == 6.0
    assert graph.metric_pairs == {id(first): first}  # what EstimatorSpec accepts unchecked
