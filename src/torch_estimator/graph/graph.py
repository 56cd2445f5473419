"""Graph: the nn.Module that runs model_fn and owns everything model_fn creates."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from torch_estimator.contract.current import current_graph, reset_current_graph, set_current_graph
from torch_estimator.contract.fn_args import call_model_fn, fn_args
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.contract.spec import EstimatorSpec

__all__ = ["Graph", "require_graph", "set_output_vocabulary"]

# Plain attributes written on every model_fn call. nn.Module.__setattr__ checks each assignment for
# Parameters, Modules and buffers (a few microseconds); these never hold any, so they skip it.
_PER_CALL_ATTRIBUTES = frozenset(
    {
        "call_memo",
        "scope",
        "named_tensors",
        "summaries",
        "building",
        "output_vocabularies",
        "regularization_losses",
        "regularized_variables",
        "loss_collections",
    }
)


class Graph(nn.Module):
    """Runs ``model_fn`` in ``forward`` and owns every variable, module and optimizer it creates.

    TF built a graph once and ran it per step; eager PyTorch calls model_fn on every batch. The first
    call creates variables (``te.get_variable``, ``te.layers.*``, ``te.get_module``); later calls
    find them by their scoped names, as TF's ``get_variable`` with ``AUTO_REUSE`` did. Names are
    uniqued in call order on every call (``dense``, ``dense_1``, ...), so the same model_fn finds the
    same variables each time. ``state_dict()`` keys are those names (``dnn/hiddenlayer_0/kernel``,
    ``global_step``; a module from ``get_module("net", ...)`` contributes ``net.<its own keys>``).

    Because it is an ``nn.Module``, DDP, FSDP, ``torch.compile`` and autocast wrap it unchanged.

    >>> import torch_estimator as te
    >>> def model_fn(features, mode):
    ...     logits = te.layers.dense(features, 2)
    ...     return te.EstimatorSpec(mode, predictions={"logits": logits})
    >>> graph = Graph(model_fn)
    >>> spec = graph(torch.ones(4, 3), None, te.ModeKeys.PREDICT)
    >>> sorted(graph.state_dict())
    ['dense/bias', 'dense/kernel']
    """

    def __init__(
        self,
        model_fn: Callable[..., EstimatorSpec],
        params: Any = None,
        config: Any = None,
        device: torch.device | str = "cpu",
        grad_scaler: Any = None,
    ) -> None:
        super().__init__()
        # Plain attributes, kept out of nn.Module's registries: model_fn may itself be a Module.
        self.__dict__["model_fn"] = model_fn
        self.__dict__["model_fn_args"] = fn_args(model_fn)
        # One deep copy per Graph, as TF copied params once per graph build.
        self.__dict__["params"] = copy.deepcopy(params) if params is not None else {}
        self.__dict__["config"] = config
        self.device = torch.device(device)
        self.building = False
        self.objects: dict[str, Any] = {}
        self.named_tensors: dict[str, torch.Tensor] = {}
        # tag -> (kind, value) recorded by te.summary.* during the current call.
        self.summaries: dict[str, tuple[str, Any]] = {}
        # prediction key -> class names (None: str(id)) for outputs of class ids, set during the call.
        self.output_vocabularies: dict[str, tuple[str, ...] | None] = {}
        # Per-call caches of other modules (feature column transforms), emptied when a call starts.
        # A fresh dict rather than a call counter: torch.compile specialises on integer attributes.
        self.call_memo: dict[str, Any] = {}
        self.scope = ""
        self.scope_initializers: dict[str, Any] = {}
        self.scope_regularizers: dict[str, Any] = {}
        self.scope_dtypes: dict[str, Any] = {}
        self.scope_constraints: dict[str, Any] = {}
        self.scope_custom_getters: dict[str, Any] = {}
        # Each variable's regularizers and constraint, fixed at its creation; the regularization
        # losses of the current call and the variables whose losses it has recorded (regularization.py).
        self.variable_regularizers: dict[str, tuple[Any, ...]] = {}
        self.variable_constraints: dict[str, Any] = {}
        self.regularization_losses: list[Any] = []
        self.regularized_variables: set[str] = set()
        # The losses te.losses functions and add_loss recorded in this call, by collection name
        # (TF's LOSSES collection and any other the caller names), as (name, loss) pairs.
        self.loss_collections: dict[str, list[tuple[str, torch.Tensor]]] = {}
        # A torch.amp.GradScaler for float16 training; optimizer.minimize scales the loss with it.
        self.grad_scaler = grad_scaler
        self._name_counts: dict[str, int] = {}
        self._metric_counts: dict[int, int] = {}
        # The (value, update_op) pairs te.metrics functions returned in this Graph, by id (each kept
        # here, so that no other object takes its id): EstimatorSpec accepts them unchecked.
        self.metric_pairs: dict[int, tuple[Any, Any]] = {}
        # TF's variable scope store, for the current call: the full names of the scopes opened
        # (layers, variable_scope), the scopes opened inside each scope (forgotten when it closes),
        # and per name the lowest suffix that may still be free.
        self._open_scopes: set[str] = set()
        self._subscopes: dict[str, list[str]] = {}
        self._next_suffix: dict[str, int] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _PER_CALL_ATTRIBUTES:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def forward(self, features: Any, labels: Any = None, mode: Any = ModeKeys.TRAIN) -> EstimatorSpec:
        """Calls model_fn once with this Graph current and returns its validated EstimatorSpec."""
        self.call_memo = {}
        self.scope = ""
        self._name_counts.clear()
        self._open_scopes.clear()
        self._subscopes.clear()
        self._next_suffix.clear()
        self.named_tensors = {}
        self.summaries = {}
        self.output_vocabularies = {}
        self.regularization_losses = []
        self.regularized_variables = set()
        self.loss_collections = {}
        token = set_current_graph(self)
        try:
            return call_model_fn(
                self.model_fn, features, labels, mode, self.params, self.config, self.model_fn_args
            )
        finally:
            reset_current_graph(token)

    @contextlib.contextmanager
    def build(self) -> Iterator[Graph]:
        """Marks a build pass: model_fn runs to create variables, nothing is trained."""
        self.building = True
        try:
            yield self
        finally:
            self.building = False

    def set_output_vocabulary(self, key: str, vocabulary: Sequence[str] | None = None) -> None:
        """Marks prediction ``key`` as int64 class ids named by ``vocabulary`` (None: ``str(id)``).

        torch has no string tensors: ``predict()`` turns the ids of such a key into bytes strings, as
        TF yielded them. Holds for the current model_fn call only.

        >>> graph = Graph(lambda features, mode: None)
        >>> graph.set_output_vocabulary("classes", ["cat", "dog"])
        >>> graph.output_vocabularies
        {'classes': ('cat', 'dog')}
        """
        if not isinstance(key, str):
            raise TypeError(f"The prediction key must be a string. Received: {key!r}.")
        if vocabulary is not None:
            if isinstance(vocabulary, (str, bytes)) or not all(isinstance(v, str) for v in vocabulary):
                raise TypeError(
                    f"vocabulary must be a sequence of strings or None. Received for {key!r}: {vocabulary!r}."
                )
            vocabulary = tuple(vocabulary)
        self.output_vocabularies[key] = vocabulary

    # -- names -------------------------------------------------------------------------------

    def scoped(self, name: str) -> str:
        """``name`` under the current variable scope."""
        return f"{self.scope}/{name}" if self.scope else name

    def unique_name(self, base: str) -> str:
        """TF's unique variable scope: ``base`` unless a scope of that name was opened in the current
        scope (in this call, since that scope was last entered), else the first of ``base_1``,
        ``base_2``, ... that was not; the name returned is opened (``open_scope``).

        >>> graph = Graph(lambda features: None)
        >>> graph.open_scope("dense_1")  # a layer named explicitly
        >>> [graph.unique_name("dense") for _ in range(3)]
        ['dense', 'dense_2', 'dense_3']
        """
        full = self.scoped(base)
        name = base
        if full in self._open_scopes:
            suffix = self._next_suffix.get(full, 1)
            while f"{full}_{suffix}" in self._open_scopes:
                suffix += 1
            self._next_suffix[full] = suffix + 1
            name, full = f"{base}_{suffix}", f"{full}_{suffix}"
        if full not in self._open_scopes:
            self._open(full)
        return name

    def open_scope(self, name: str) -> None:
        """Marks scope ``name`` (under the current scope) as opened, as entering a variable scope did
        in TF: a later ``unique_name(name)`` in this scope moves on to a suffix. What was opened inside
        a scope is forgotten when ``name_scope`` leaves it, so re-entering a named scope names its
        layers afresh (``dense``, not ``dense_2``) and finds the variables of the first entry."""
        full = self.scoped(name)
        if name and full not in self._open_scopes:
            self._open(full)

    def _open(self, full: str) -> None:
        self._open_scopes.add(full)
        child, parent = full, full.rpartition("/")[0]
        # A name with slashes ("enc/inner") hangs below its intermediate scopes, so that leaving
        # "enc" forgets it too, as TF did; they are not opened themselves.
        while parent != self.scope and parent not in self._subscopes and "/" in parent:
            self._subscopes[parent] = [child]
            child, parent = parent, parent.rpartition("/")[0]
        self._subscopes.setdefault(parent, []).append(child)

    def _close_subscopes(self, scope: str) -> None:
        """Forgets the scopes opened inside ``scope`` (TF's ``close_variable_subscopes``)."""
        for child in self._subscopes.pop(scope, ()):
            self._open_scopes.discard(child)
            self._next_suffix.pop(child, None)
            self._close_subscopes(child)

    def unique_scoped_name(self, base: str) -> str:
        """``scoped(unique_name(base))`` in one step (metric functions call it once per batch each).

        >>> graph = Graph(lambda features: None)
        >>> with graph.name_scope("head"):
        ...     [graph.unique_scoped_name("auc") for _ in range(2)]
        ['head/auc', 'head/auc_1']
        """
        # scoped() and _numbered(), inlined: a per-batch path (metric functions).
        key = f"{self.scope}/{base}" if self.scope else base
        counts = self._name_counts
        count = counts.get(key, 0)
        counts[key] = count + 1
        return key if count == 0 else f"{key}_{count}"

    def unique_object_name(self, base: str) -> str:
        """``base``, ``base_1``, ... in call order, independent of variable scopes (optimizers)."""
        return self._numbered("\0" + base, base)

    def _numbered(self, key: str, name: str) -> str:
        """``name`` on the first call with ``key``, then ``name_1``, ``name_2``, ..."""
        count = self._name_counts.get(key, 0)
        self._name_counts[key] = count + 1
        return name if count == 0 else f"{name}_{count}"

    @contextlib.contextmanager
    def name_scope(self, name: str) -> Iterator[str]:
        """Enters scope ``name`` (already uniqued by the caller) below the current one."""
        outer = self.scope
        self.scope = self.scoped(name) if name else outer
        try:
            yield self.scope
        finally:
            if name and self.scope in self._subscopes:
                self._close_subscopes(self.scope)
            self.scope = outer

    # -- variables, modules and other owned objects ------------------------------------------

    def find_variable(self, name: str) -> torch.Tensor | None:
        """The variable called ``name`` (a full scoped name), or None."""
        found = self._parameters.get(name)
        if found is None:
            found = self._buffers.get(name)
        return found

    def add_variable(
        self, name: str, value: torch.Tensor, trainable: bool, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """Registers ``value`` under the full name ``name``: a Parameter if trainable, else a buffer.

        It lives on the Graph's device unless ``device`` names another.
        """
        if name in self._parameters or name in self._buffers or name in self._modules:
            raise ValueError(f"Variable {name} already exists in this Graph.")
        value = value.to(self.device if device is None else device)
        if value.is_inference():  # made in evaluate's inference mode: it must outlive it
            with torch.inference_mode(False):
                value = value.clone()
        if trainable and (value.is_floating_point() or value.is_complex()):
            parameter = nn.Parameter(value)
            self.register_parameter(name, parameter)
            return parameter
        self.register_buffer(name, value)
        return value

    def get_module(self, name: str, factory: Callable[[], nn.Module]) -> nn.Module:
        """The module registered under ``name`` (a full scoped name), made by ``factory`` the first time."""
        module = self._modules.get(name)
        if module is None:
            if name in self._parameters or name in self._buffers:
                raise ValueError(f"{name} is a variable in this Graph, not a module.")
            with torch.inference_mode(False):  # its parameters outlive evaluate's inference mode
                module = factory()
            if not isinstance(module, nn.Module):
                raise TypeError(
                    f"get_module({name!r}, factory) needs factory() to return an nn.Module. "
                    f"Received: {type(module).__name__}."
                )
            with torch.inference_mode(False):
                module = module.to(self.device)
            if not self.training:
                module.eval()
            self.add_module(name, module)
        return module

    def get_object(self, name: str, factory: Callable[[], Any]) -> Any:
        """A persistent non-module object (an optimizer, a metric), made by ``factory`` the first time."""
        found = self.objects.get(name)
        if found is None:
            with torch.inference_mode(False):  # its tensors outlive evaluate's inference mode
                found = factory()
            self.objects[name] = found
        return found

    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        """Everything a checkpoint holds: ``state_dict()`` plus optimizer slots, by name."""
        tensors = dict(self.state_dict())
        for owned in self.objects.values():
            state_tensors = getattr(owned, "state_tensors", None)
            if state_tensors is not None:
                tensors.update(state_tensors())
        return tensors

    def restore_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Loads a checkpoint's tensors: variables in place, slots into their optimizers.

        Raises:
            KeyError: a variable of this Graph is missing from ``tensors`` or has another shape.
        """
        own = self.state_dict()
        missing = sorted(name for name in own if name not in tensors)
        if missing:
            raise KeyError(
                f"Checkpoint is missing variables of this model: {missing}. The model_fn creates variables "
                "the checkpoint does not have; check the model_dir or the variable names."
            )
        mismatched = [
            f"{name}: checkpoint {tuple(tensors[name].shape)} vs model {tuple(value.shape)}"
            for name, value in own.items()
            if tuple(tensors[name].shape) != tuple(value.shape)
        ]
        if mismatched:
            raise KeyError(f"Checkpoint variables have other shapes than the model's: {mismatched}.")
        self.load_state_dict({name: tensors[name] for name in own})
        for owned in self.objects.values():
            load = getattr(owned, "load_state_tensors", None)
            if load is not None:
                load(tensors)

    def trainable_variables(self) -> list[nn.Parameter]:
        """Every parameter that requires a gradient, in creation order."""
        return [parameter for parameter in self.parameters() if parameter.requires_grad]

    def variable_name(self, tensor: torch.Tensor) -> str:
        """The state_dict name of a parameter or buffer owned by this Graph."""
        for name, candidate in self.named_parameters():
            if candidate is tensor:
                return name
        for name, candidate in self.named_buffers():
            if candidate is tensor:
                return name
        raise ValueError(f"{tuple(tensor.shape)} tensor is not a variable of this Graph.")

    # -- metric objects ------------------------------------------------------------------------

    def metric_was_updated(self, metric: Any) -> bool:
        """Whether ``metric.update`` ran during the current model_fn call.

        Metrics that count their updates (torchmetrics' ``_update_count``) are checked against the
        count seen in the previous call; others cannot be checked and are trusted.
        """
        count = getattr(metric, "_update_count", None)
        if not isinstance(count, int):
            return True
        key = id(metric)
        # The count when this call first looked: from the previous call's last look (or reset).
        baselines = self.call_memo.setdefault("graph/metric_baselines", {})
        baseline = baselines.setdefault(key, self._metric_counts.get(key, 0))
        self._metric_counts[key] = count
        return count > baseline

    def keep_metric_pair(self, pair: tuple[Any, Any]) -> tuple[Any, Any]:
        """Registers ``pair``, the ``(value, update_op)`` pair a te.metrics function made in this
        Graph and returns on each of its calls (``metric_pairs``); returns ``pair``."""
        self.metric_pairs[id(pair)] = pair
        return pair

    def note_metric_reset(self, metric: Any) -> None:
        """Records ``metric``'s update count after ``reset()``: the next call checks against it."""
        count = getattr(metric, "_update_count", None)
        if isinstance(count, int):
            self._metric_counts[id(metric)] = count
            self.call_memo.setdefault("graph/metric_baselines", {})[id(metric)] = count


def require_graph(what: str) -> Graph:
    """The current Graph; a clear error when called outside model_fn."""
    graph = current_graph()
    if graph is None:
        raise RuntimeError(
            f"{what} must be called inside model_fn, while an Estimator (or a te.Graph) runs it. "
            "Outside model_fn there is no Graph to own the variable."
        )
    return graph


def set_output_vocabulary(key: str, vocabulary: Sequence[str] | None = None) -> None:
    """Inside model_fn: prediction ``key`` holds int64 class ids named by ``vocabulary`` (None: ``str(id)``).

    ``Estimator.predict()`` then yields that key as bytes strings, as TF's string predictions were.

    >>> import torch_estimator as te
    >>> def model_fn(features, mode):
    ...     te.graph.set_output_vocabulary("classes", ["neg", "pos"])
    ...     return te.EstimatorSpec(mode, predictions={"classes": (features > 0).long()})
    >>> graph = Graph(model_fn)
    >>> _ = graph(torch.tensor([1.0, -1.0]), None, te.ModeKeys.PREDICT)
    >>> graph.output_vocabularies
    {'classes': ('neg', 'pos')}
    """
    require_graph("te.graph.set_output_vocabulary").set_output_vocabulary(key, vocabulary)
