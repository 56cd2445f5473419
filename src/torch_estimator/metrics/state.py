"""Where a metric function keeps its accumulators: a ``MetricState`` owned by the current Graph.

TF's metric functions made local variables (``total``, ``count``, ...) in the graph; model_fn ran
once. Here model_fn runs once per eval batch in one Graph, so a metric function finds its state by
name on every call (``accuracy``, ``accuracy_1``, ... in call order, as layers are named) and the
first call creates it. State tensors are additive sums and counts, zero in a fresh Graph, on the
Graph's device, and outside ``state_dict()`` (never checkpointed). Because every one is a sum,
summing each tensor over ranks (``all_reduce(SUM)``) merges distributed evaluation exactly.

Deferred, batched updates. On a small batch (W1: 256 rows) a metric's update is a handful of tiny
kernels at 1.5-2.5 us each, mostly dispatch overhead. So an update op does not run them: it appends
its batch inputs to the state (``MetricState.defer``; an evaluation queues the update ops of a batch
together, ``UpdateOps``), and the states later fold every pending batch in at once (``flush``):
each input concatenated along dimension 0 (stacked when 0-d), then one call of the metric's
``fold``. A fold is a sum over rows, so folding the concatenation adds
what folding each batch would: integer counts bit for bit, floating sums up to the order of
additions. Batches that do not concatenate (another trailing shape, dtype or device, weights on
some batches only) are folded one by one, as before.

One pair per metric. TF's model_fn ran once, so each metric had one ``(value, update_op)`` pair, and
running its update op consumed the current batch. Here a deferred metric function makes its pair on
its first call in a Graph and returns the same pair on every later call; each call records its
inputs on the state, and the update op queues the inputs of the latest call (``deferred_pair``). A
call thus allocates no pair, and EstimatorSpec recognises the pair without checking it again.

The metric states of one Graph fold together (``PendingFolds``): a head feeds one label tensor
to several metrics, and folding them at the same moment lets them share each concatenation and the
costly middle of their folds (``FoldMemo``, ``memo.py``), which is dropped after the flush. All the
pending batches of a Graph are flushed

* when a new round of update ops begins (the next model_fn call's) and the tensors they hold have
  reached ``MetricState.flush_size`` elements (2**17, counting a tensor given to several metrics of
  one round once: memory stays bounded, at most 1 MiB of int64 inputs plus one round, and the folds'
  temporaries stay small enough to reuse freed memory rather than fault in fresh pages; W1's head
  metrics fold every 85 batches),
* when a state gets a batch for another ``fold`` or other fold parameters,
* before anything reads or replaces a state: ``state[name]``, ``named_tensors``, ``tensors()``
  (what a cross-rank all_reduce sums), a value's ``compute()``; ``reset()`` drops a state's own.

Inputs are kept by reference, not copied (a copy per batch would cost what deferral saves): a
tensor given to a metric must not be modified in place afterwards. Model outputs are fresh tensors
on every step, and so are input_fn's batches unless input_fn refills one buffer. A change made
through torch in place is detected (the tensor's version counter) and raises when the state is
flushed; an input_fn that refills one numpy array must yield a copy of it. Inference tensors (what
model_fn makes inside ``evaluate``, which runs it under ``torch.inference_mode``) have no version
counter: they are queued unwatched. input_fn's tensors are made outside inference mode, so a
refilled buffer is still caught.

Holding those small tensors across a cycle makes glibc return the heap after each flush and fault it
in again; the first group in a process raises glibc's trim threshold so that it does not
(``heap.py``). What is held besides the inputs is kept to a few objects per cycle: a state's pending
batches are one flat list of their inputs, and a round's bookkeeping (which tensors it has counted)
is dropped when the next round begins. Thousands of small objects alive across a cycle would scatter
the interpreter's own per-batch objects over memory that is no longer in cache: on W1, a tuple per
queued batch and per counted tensor cost 3 to 7 us a batch.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar

import torch

from torch_estimator.contract.current import current_graph
from torch_estimator.contract.metric_types import MetricValue, UpdateOp
from torch_estimator.graph.graph import Graph, require_graph
from torch_estimator.metrics.heap import keep_heap_mapped
from torch_estimator.metrics.memo import FoldMemo

_is_compiling = torch.compiler.is_compiling

__all__ = [
    "STATE_PREFIX",
    "Fold",
    "MetricState",
    "PendingFolds",
    "UpdateOps",
    "deferred_metric",
    "deferred_pair",
    "div_no_nan",
    "found_state",
    "metric_pair",
    "metric_state",
    "metric_states",
    "named_metric",
]

STATE_PREFIX = "metric:"
"""Prefix of a metric state's key in ``Graph.objects``: ``metric:<scoped name>``."""


Layout = Mapping[str, tuple[Sequence[int], torch.dtype]]

Fold = Callable[..., None]
"""``fold(state, params, *inputs)``: adds a batch (or several, concatenated along dimension 0) into
``state``. It must be a sum over rows, so that folding a concatenation equals folding each part."""

_NONE_ID = id(None)
"""Counted from the start of each round (``PendingFolds.counted``): a None input is never counted."""

Inputs = tuple[torch.Tensor | None, ...]

Batch = tuple[Fold, Hashable, Inputs, object]
"""One batch to queue on a state: ``(fold, params, inputs, call)`` (``MetricState.defer``)."""


class MetricState:
    """The accumulators of one metric function in one Graph.

    ``named_tensors`` are additive (sums, counts, histograms): an update adds into them in place,
    and the states of several ranks merge by summing each tensor. ``constants`` are fixed values the
    update needs on every batch (sorted thresholds, say); they are never summed. Updates may be
    deferred (``defer``; module docstring): reading a tensor folds them in first.

    >>> state = MetricState("mean", {"total": torch.zeros(()), "count": torch.zeros(())}, key="mean")
    >>> state["total"].add_(3.0); state["count"].add_(2.0)
    tensor(3.)
    tensor(2.)
    >>> [float(t) for t in state.tensors()]
    [3.0, 2.0]
    """

    flush_size: ClassVar[int] = 1 << 17
    """Distinct pending input elements of a Graph's metric states that make them fold."""

    def __init__(
        self,
        kind: str,
        tensors: Mapping[str, torch.Tensor],
        key: Hashable,
        constants: Mapping[str, Any] | None = None,
        group: PendingFolds | None = None,
    ) -> None:
        self.kind = kind
        self.key = key
        self.name = kind  # metric_state() sets the metric's full name, for messages
        self.update_name = f"{kind}/update_op"
        self.constants = dict(constants or {})
        # The pair a deferred metric function returns on every call, made once (``deferred_pair``);
        # ``value_key`` is how its value reads the state, and ``latest`` what its update op queues:
        # the fold, params, inputs and model_fn call of the function's latest call.
        self.pair: tuple[MetricValue, UpdateOp] | None = None
        self.value_key: Hashable = None
        self.latest: Batch | None = None
        self.group = group if group is not None else PendingFolds()
        self._tensors = dict(tensors)
        # The pending batches' inputs, one batch after another (``_arity`` inputs each): a flat list
        # holds no object per batch (module docstring).
        self._pending: list[torch.Tensor | None] = []
        self._arity = 0
        self._fold: Fold | None = None
        self._params: Hashable = None

    @property
    def memo(self) -> FoldMemo:
        """What the states flushing together share (``memo.py``)."""
        return self.group.memo

    @property
    def named_tensors(self) -> dict[str, torch.Tensor]:
        """Every accumulator by name, pending batches folded in."""
        self.flush()
        return self._tensors

    def __getitem__(self, name: str) -> torch.Tensor:
        if self._pending:
            self.flush()
        return self._tensors[name]

    def tensors(self) -> list[torch.Tensor]:
        """Every accumulator, in a fixed order, pending batches folded in: what a distributed run
        sums across ranks."""
        self.flush()
        return list(self._tensors.values())

    def reset(self) -> None:
        """Zeroes every accumulator in place and drops this state's pending batches (the other
        states of its Graph fold theirs, so that the dropped tensors are released)."""
        self._pending = []
        try:
            self.group.flush()
        finally:
            for tensor in self._tensors.values():
                tensor.zero_()

    @property
    def pending(self) -> int:
        """How many batches wait to be folded in."""
        return len(self._pending) // self._arity if self._arity else 0

    def defer(self, fold: Fold, params: Hashable, inputs: Inputs, call: object = None) -> None:
        """Queues one batch for ``fold(self, params, *inputs)`` (module docstring).

        Each input is a tensor (or None) whose dimension 0 is rows of the batch, in the layout
        ``fold`` expects, so that pending batches can be concatenated input by input. ``fold`` must
        be one function (not a new closure per batch) and ``params`` hashable: batches with another
        ``fold`` or ``params`` flush what is pending first. ``call`` identifies the model_fn call
        whose update op this is (``Graph.call_memo``); without one, each batch is a round of its own.

        >>> def fold(state, params, values):
        ...     state["total"].add_(values.sum())
        >>> state = MetricState("sum", {"total": torch.zeros(())}, key=None)
        >>> state.defer(fold, None, (torch.tensor([1.0, 2.0]),))
        >>> state.defer(fold, None, (torch.tensor([4.0]),))
        >>> state.pending, float(state["total"]), state.pending
        (2, 7.0, 0)
        """
        if _is_compiling():
            # Under torch.compile / torch.export the batch size is symbolic: queueing would branch on it.
            self.flush()
            self._fold_now(fold, params, inputs)
            return
        self.group.queue((self,), ((fold, params, inputs, call),))

    def defer_latest(self) -> None:
        """Queues the batch of the metric function's latest call (``deferred_pair``): what the
        update op of a deferred metric runs."""
        self.defer(*self.latest)  # set by the call that made the pair

    def flush(self) -> None:
        """Folds the pending batches of this state, and of every state of its Graph, into their
        accumulators (module docstring).

        Raises:
            RuntimeError: a pending input was modified in place after its update op ran.
        """
        if self._pending:
            self.group.flush()

    def _fold_now(self, fold: Fold, params: Hashable, inputs: Inputs) -> None:
        try:
            fold(self, params, *inputs)
        finally:
            self.memo.clear()  # the memo lives for one flush: this fold's entries hold its inputs

    def _take_pending(self) -> tuple[list[torch.Tensor | None], Inputs | None]:
        """Takes the pending batches' inputs (flat, as queued), with each input concatenated over
        the batches (None when they do not fit together, or there is no batch)."""
        flat, self._pending = self._pending, []
        arity = self._arity
        if len(flat) <= arity:
            return flat, tuple(flat) if flat else None
        return flat, _concatenate([flat[index::arity] for index in range(arity)], self.group.memo)

    def _fold_taken(
        self, flat: list[torch.Tensor | None], columns: Inputs | None, changed: Sequence[torch.Tensor]
    ) -> None:
        """Folds batches taken by ``_take_pending`` unless one holds a changed tensor."""
        if not flat:  # reset since it queued
            return
        if changed and any(given is tensor for given in flat for tensor in changed):
            raise RuntimeError(
                f"Metric {self.name!r}: an input of its update op was modified in place after the "
                "update op ran. Update ops fold their batches in later, in bulk, and keep the input "
                "tensors until then. Yield a new tensor for each batch from input_fn (or pass "
                "tensor.clone() to the metric) instead of refilling one."
            )
        fold, params, arity = self._fold, self._params, self._arity
        assert fold is not None  # set by defer() with the first pending batch
        if columns is not None:
            fold(self, params, *columns)
            return
        for start in range(0, len(flat), arity):
            fold(self, params, *flat[start : start + arity])

    def __repr__(self) -> str:
        shapes = {name: tuple(tensor.shape) for name, tensor in self._tensors.items()}
        return f"MetricState(kind={self.kind!r}, tensors={shapes})"


_DEFER_LATEST = MetricState.defer_latest
"""What the update op of every deferred metric runs: ``MetricState.defer_latest(state)``
(``deferred_pair``; ``UpdateOps`` recognises these update ops by it)."""

_LATEST = operator.attrgetter("latest")
"""``state.latest`` of each state of a run, in C (``UpdateOps`` queues a run in one call)."""


class PendingFolds:
    """The pending batches of one Graph's metric states, folded together (module docstring).

    ``states`` are the states with pending batches. ``versions`` holds each pending tensor that has a
    version counter (not an inference tensor) with its version when deferred; ``size`` counts the
    pending elements. ``call`` is the model_fn call whose update ops are running, and ``counted`` the
    ids of the tensors its update ops have counted, so that a tensor given to several metrics counts
    once. The size is checked only when another call's first update op arrives, so a flush never
    splits one call's update ops, and the states fed the same tensors hold the same batches (which is
    what lets them share work).

    >>> def fold(state, params, values):
    ...     state["total"].add_(values.sum())
    >>> group = PendingFolds()
    >>> first = MetricState("sum", {"total": torch.zeros(())}, key=None, group=group)
    >>> second = MetricState("sum", {"total": torch.zeros(())}, key=None, group=group)
    >>> values, call = torch.tensor([1.0, 2.0]), object()  # the update ops of one model_fn call
    >>> first.defer(fold, None, (values,), call); second.defer(fold, None, (values,), call)
    >>> group.size, float(first["total"]), second.pending  # counted once; reading one state folds both
    (2, 3.0, 0)
    """

    def __init__(self) -> None:
        keep_heap_mapped()  # once per process: a flush must not hand the heap back (heap.py)
        self.memo = FoldMemo()
        self.states: list[MetricState] = []
        self.versions: list[tuple[torch.Tensor, int]] = []
        self.size = 0
        self.call: object = None
        self.counted: set[int] = {_NONE_ID}

    def queue(self, states: Sequence[MetricState], batches: Iterable[Batch]) -> None:
        """Queues one batch per state of ``states``: ``batches`` gives each one's ``(fold, params,
        inputs, call)`` (``MetricState.defer``; ``UpdateOps`` queues the states of one model_fn call
        together). The first update op of a call folds what is pending first when it has reached
        ``MetricState.flush_size`` elements."""
        for state, (fold, params, inputs, call) in zip(states, batches, strict=True):
            if call is None or call is not self.call:  # the first update op of a model_fn call
                if self.size >= MetricState.flush_size:
                    self.flush()
                self.call = call
                self.counted = {_NONE_ID}
            if fold is not state._fold or params != state._params or len(inputs) != state._arity:
                if not inputs:
                    raise ValueError(f"Metric {state.name!r}: an update op must queue at least one input.")
                state.flush()
                state._fold, state._params, state._arity = fold, params, len(inputs)
            counted = self.counted
            for tensor in inputs:
                if id(tensor) not in counted:  # None is in counted from the start
                    counted.add(id(tensor))  # unique: the pending batches hold the tensor until the flush
                    self.size += tensor.numel()
                    if not tensor.is_inference():  # an inference tensor has no version counter: unchecked
                        self.versions.append((tensor, tensor._version))
            pending = state._pending
            if not pending:
                self.states.append(state)
            pending.extend(inputs)

    def flush(self) -> None:
        """Folds every pending batch of every state and releases their tensors.

        A state holding a tensor modified in place since its update op drops its batches, and so
        does a state whose fold raises; the other states still fold theirs (a metric's bad input
        must not cost the other metrics their batches). The first error is raised at the end.

        Raises:
            RuntimeError: a pending input was modified in place after its update op ran.
        """
        states, versions = self.states, self.versions
        self.states, self.versions, self.size, self.call, self.counted = [], [], 0, None, {_NONE_ID}
        error: Exception | None = None
        taken: list[tuple[MetricState, list[torch.Tensor | None], Inputs | None]] = []
        try:
            # Concatenating reads every pending tensor: the version check after it finds them in
            # cache, at a fifth of its cost on cold tensors (about 2 us a W1 batch).
            for state in states:
                try:
                    taken.append((state, *state._take_pending()))
                except Exception as failure:  # raised below, after the other states fold
                    error = error or failure
            changed = [tensor for tensor, version in versions if tensor._version != version]
            for state, flat, columns in taken:
                try:
                    state._fold_taken(flat, columns, changed)
                except Exception as failure:
                    error = error or failure
        finally:
            self.memo.clear()
        if error is not None:
            raise error


class UpdateOps:
    """Runs the update op of every ``(value, update_op)`` pair in each batch's ``eval_metric_ops``,
    in name order: what an evaluation does after each model_fn call (Metric objects were updated by
    model_fn itself). One instance serves one evaluation, called once per batch.

    The te.metrics functions return the same pair on every call in a Graph (``deferred_pair``), so
    batch after batch model_fn returns the same pairs: their order, and which are deferred metrics,
    is worked out again only when the names or pairs change. The update op of a deferred metric
    queues its batch straight on its state's ``PendingFolds``: the same as running the op, without a
    call through it and ``MetricState.defer_latest`` per metric.

    >>> def fold(state, params, values):
    ...     state["total"].add_(values.sum())
    >>> graph = Graph(lambda features: None)
    >>> state = metric_state(graph, "sum", "sum", None, {"total": ((), torch.float32)})
    >>> seen = []
    >>> metrics = {
    ...     "sum": deferred_pair(graph, state, lambda state, key: None, None, fold, None, (torch.ones(2),)),
    ...     "other": (MetricValue(lambda: None, graph=graph), UpdateOp(seen.append, graph=graph, args=(1,))),
    ... }
    >>> update_ops = UpdateOps()
    >>> update_ops(metrics); update_ops(metrics); state.pending, seen
    (2, [1, 1])
    """

    def __init__(self) -> None:
        self._names: tuple[str, ...] = ()
        self._metrics: tuple[Any, ...] = ()
        # The update ops in name order: each run of deferred metrics sharing a PendingFolds as
        # (group, states), which queues them in one call, and any other update op as (None, op).
        self._plan: list[tuple[PendingFolds | None, Any]] = []

    def __call__(self, metrics: Mapping[str, Any]) -> None:
        if not metrics:
            return
        if _is_compiling():  # traced, every update op folds at once (MetricState.defer)
            for name in sorted(metrics):
                if isinstance(metrics[name], tuple):
                    metrics[name][1]()
            return
        names, values = tuple(metrics), tuple(metrics.values())
        if names != self._names or not all(map(operator.is_, values, self._metrics)):
            self._plan = _plan([metrics[name] for name in sorted(metrics)])
            self._names, self._metrics = names, values
        for group, step in self._plan:
            if group is None:
                step()
            else:
                group.queue(step, map(_LATEST, step))


def _plan(metrics: Sequence[Any]) -> list[tuple[PendingFolds | None, Any]]:
    """``UpdateOps``'s plan for ``metrics``, in order (Metric objects have no update op to run)."""
    plan: list[tuple[PendingFolds | None, Any]] = []
    for metric in metrics:
        if not isinstance(metric, tuple):
            continue
        update_op = metric[1]
        if type(update_op) is not UpdateOp or update_op.update is not _DEFER_LATEST:
            plan.append((None, update_op))
            continue
        state = update_op.args[0]
        if plan and plan[-1][0] is state.group:
            plan[-1] = (state.group, (*plan[-1][1], state))
        else:
            plan.append((state.group, (state,)))
    return plan


def _concatenate(pending: list[list[torch.Tensor | None]], memo: FoldMemo) -> Inputs | None:
    """Each input of the pending batches (one list per input, ``pending[input][batch]``)
    concatenated along dimension 0 (0-d ones stacked; once for all the states fed the same tensors);
    None when they do not all fit together (None on some batches only, dtypes, shapes or devices)."""
    columns: list[torch.Tensor | None] = []
    for column in pending:
        if column[0] is None:
            if column.count(None) != len(column):
                return None
            columns.append(None)
            continue
        try:
            columns.append(memo.concatenate(column))
        except (RuntimeError, TypeError, AttributeError):  # None, dtypes, shapes, ranks or devices differ
            return None
    return tuple(columns)


def named_metric(metric: str, name: str | None, default_name: str) -> tuple[Graph, str]:
    """The current Graph and the metric's full name in it: ``name`` (or ``default_name``) uniqued in
    call order, under the scope. ``metric`` (the function) is named in the error outside model_fn.

    A metric's state is found again on the next call by this name, so every call of model_fn must
    create its metrics in the same order, as with layers.

    Raises:
        RuntimeError: called outside model_fn.

    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     [named_metric("accuracy", name, "accuracy")[1] for name in (None, None, "acc")]
    ['accuracy', 'accuracy_1', 'acc']
    >>> named_metric("accuracy", None, "accuracy")
    Traceback (most recent call last):
    RuntimeError: te.metrics.accuracy must be called inside model_fn, ...
    """
    graph = current_graph()
    if graph is None:
        graph = require_graph(f"te.metrics.{metric}")
    return graph, graph.unique_scoped_name(name or default_name)


def metric_state(
    graph: Graph,
    name: str,
    kind: str,
    key: Hashable,
    layout: Layout | Callable[[], Layout],
    constants: Callable[[], Mapping[str, Any]] | None = None,
) -> MetricState:
    """The state of metric ``name`` in ``graph``, created zero (on ``graph.device``) the first time.

    ``kind`` (the metric function) and ``key`` (whatever fixes the layout: thresholds, num_classes,
    a shape) must be equal on every call; they are all that is checked on the per-batch fast path.
    ``layout`` (or a function making it) and ``constants`` are used once, at creation.

    Raises:
        ValueError: a state called ``name`` exists for another kind or key.

    >>> graph = Graph(lambda features: None)
    >>> state = metric_state(graph, "mean", "mean", None, {"total": ((), torch.float32)})
    >>> metric_state(graph, "mean", "mean", None, {"total": ((), torch.float32)}) is state
    True
    """
    found = found_state(graph, name, kind, key)
    if found is not None:
        return found
    state = graph.objects.get(STATE_PREFIX + name)
    if state is None:
        entries = layout() if callable(layout) else layout
        with torch.inference_mode(False):  # sums kept across evaluates: never inference tensors
            tensors = {
                entry: torch.zeros(tuple(shape), dtype=dtype, device=graph.device)
                for entry, (shape, dtype) in entries.items()
            }
        group = next((other.group for other in metric_states(graph)), None)
        state = MetricState(kind, tensors, key, constants() if constants is not None else None, group)
        state.name, state.update_name = name, f"{name}/update_op"
        graph.objects[STATE_PREFIX + name] = state
    elif not isinstance(state, MetricState) or state.kind != kind or state.key != key:
        raise ValueError(
            f"Metric {name!r} already exists in this Graph as {_describe_state(state)}, and is now asked for "
            f"as {kind} with {_describe_key(key)}. A metric must be created with the same arguments and "
            "input shapes on every call of model_fn; give different metrics different names."
        )
    return state


def found_state(graph: Graph, name: str, kind: str, key: Hashable) -> MetricState | None:
    """The existing state of metric ``name`` when it has ``kind`` and ``key`` (``metric_state``'s per-batch
    path, for callers that would otherwise build the layout for nothing); None otherwise.

    >>> graph = Graph(lambda features: None)
    >>> found_state(graph, "mean", "mean", None) is None
    True
    """
    state = graph.objects.get(STATE_PREFIX + name)
    if type(state) is MetricState and state.kind == kind and state.key == key:
        return state
    return None


def metric_states(graph: Graph) -> Iterator[MetricState]:
    """Every metric function's state in ``graph``, in creation order (for cross-rank reduction).

    Read the tensors through ``state.tensors()``, which folds pending batches in first.

    >>> graph = Graph(lambda features: None)
    >>> _ = metric_state(graph, "mean", "mean", None, {"total": ((), torch.float32)})
    >>> [state.kind for state in metric_states(graph)]
    ['mean']
    """
    for key, owned in graph.objects.items():
        if key.startswith(STATE_PREFIX) and isinstance(owned, MetricState):
            yield owned


def metric_pair(
    graph: Graph, name: str, compute: Callable[[], Any], update: Callable[[], None]
) -> tuple[MetricValue, UpdateOp]:
    """The ``(value, update_op)`` pair a metric function returns.

    ``compute`` reads the state and never changes it; ``update`` folds the current batch in and
    returns None (TF's update op also returned the running value: read ``value.compute()``).

    >>> graph = Graph(lambda features: None)
    >>> value, update_op = metric_pair(graph, "m", lambda: torch.tensor(1.0), lambda: None)
    >>> value, update_op
    (MetricValue(name='m'), UpdateOp(name='m/update_op'))
    """
    return MetricValue(compute, name=name, graph=graph), UpdateOp(
        update, name=f"{name}/update_op", graph=graph
    )


def deferred_metric(
    graph: Graph,
    name: str,
    kind: str,
    key: Hashable,
    layout: Layout | Callable[[], Layout],
    read: Callable[[MetricState, Any], Any],
    value_key: Hashable,
    fold: Fold,
    params: Hashable,
    inputs: Inputs,
) -> tuple[MetricValue, UpdateOp]:
    """``deferred_pair`` of ``metric_state(graph, name, kind, key, layout)``: the per-batch path of
    every deferred metric function (a metric function runs once per batch each: the state is found
    here without a further call).

    >>> def fold(state, params, values):
    ...     state["total"].add_(values.sum())
    >>> def read(state, value_key):
    ...     return state["total"].clone()
    >>> graph = Graph(lambda features: None)
    >>> layout, inputs = {"total": ((), torch.float32)}, (torch.ones(2),)
    >>> value, update_op = deferred_metric(graph, "sum", "sum", None, layout, read, None, fold, None, inputs)
    >>> update_op.run(); value.compute()
    tensor(2.)
    """
    state = graph.objects.get(STATE_PREFIX + name)  # found_state, inlined: the per-batch path
    if type(state) is not MetricState or state.kind != kind or state.key != key:
        state = metric_state(graph, name, kind, key, layout)
    return deferred_pair(graph, state, read, value_key, fold, params, inputs)


def deferred_pair(
    graph: Graph,
    state: MetricState,
    read: Callable[[MetricState, Any], Any],
    value_key: Hashable,
    fold: Fold,
    params: Hashable,
    inputs: Inputs,
) -> tuple[MetricValue, UpdateOp]:
    """The ``(value, update_op)`` pair of ``state``'s metric, for a call with ``inputs``: the update
    op defers ``fold(state, params, *inputs)`` (``MetricState.defer``); the value is
    ``read(state, value_key)`` with pending batches folded in.

    As TF's model_fn built a metric's pair once, the pair is made once per state (again only when
    ``value_key`` changes) and every call returns it: the call records its batch as the state's
    ``latest``, which the update op queues when it runs. So an update op queues the batch of its
    metric function's latest call, a call allocates nothing but that record, and EstimatorSpec
    knows the pair (``Graph.keep_metric_pair``). ``value_key`` holds the arguments that change how
    the value is read, beyond the state's kind and key (the curve of an AUC, say).

    >>> def fold(state, params, values):
    ...     state["total"].add_(values.sum())
    >>> def read(state, value_key):
    ...     return state["total"].clone()
    >>> graph = Graph(lambda features: None)
    >>> state = metric_state(graph, "sum", "sum", None, {"total": ((), torch.float32)})
    >>> value, update_op = deferred_pair(graph, state, read, None, fold, None, (torch.tensor([1.0, 2.0]),))
    >>> update_op.run(); state.pending, value.compute()
    (1, tensor(3.))
    """
    state.latest = (fold, params, inputs, graph.call_memo)
    pair = state.pair
    if pair is None or value_key != state.value_key:
        pair = _new_pair(graph, state, read, value_key)
    return pair


def _new_pair(
    graph: Graph, state: MetricState, read: Callable[[MetricState, Any], Any], value_key: Hashable
) -> tuple[MetricValue, UpdateOp]:
    """The pair of ``state`` whose value is read by ``read(state, value_key)``, kept on the state."""
    value = MetricValue(partial(_read, state, read, value_key), name=state.name, graph=graph)
    pair = (value, UpdateOp(_DEFER_LATEST, state.update_name, graph, (state,)))
    state.pair, state.value_key = graph.keep_metric_pair(pair), value_key
    return pair


def _read(state: MetricState, read: Callable[[MetricState, Any], Any], value_key: Hashable) -> Any:
    state.flush()
    return read(state, value_key)


def div_no_nan(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """TF's ``div_no_nan``: ``numerator / denominator``, and 0 where the denominator is 0.

    >>> div_no_nan(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 0.0]))
    tensor([0.5000, 0.0000])
    """
    zero = torch.zeros((), dtype=numerator.dtype, device=numerator.device)
    safe = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    return torch.where(denominator == 0, zero, numerator / safe)


def _describe_state(state: Any) -> str:
    if not isinstance(state, MetricState):
        return type(state).__name__
    return f"{state.kind} with {_describe_key(state.key)}"


def _describe_key(key: Hashable) -> str:
    if isinstance(key, str):
        return key
    text = repr(key)
    return f"key {text if len(text) <= 80 else text[:77] + '...'}"
