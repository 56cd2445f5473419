"""``te.summary.scalar / histogram / image / text``: record values inside model_fn.

Each call stores ``graph.summaries[tag] = (kind, value)`` on the Graph running model_fn. Values stay
tensors (detached, on their device): nothing is converted to Python per step. The
``SummarySaverHook`` (every ``save_summary_steps``) and the evaluator convert and write them.

Tags follow TF 1: the name is cleaned (characters outside ``[-/\\w.]`` become ``_``), put under the
current variable scope, and uniqued within one model_fn call (``loss``, ``loss_1``). With ``family``
the tag is ``<family>/<scope>/<family>/<name>``, exactly as TF 1 wrote it.

While ``torch.export`` traces model_fn (``export_saved_model``) every op is a no-op that only
returns the tag: an export has no summaries, and touching a variable there (``w.detach()`` for a
histogram) leaves a constant torch.export cannot lift.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import torch

from torch_estimator.contract.current import current_graph

__all__ = ["histogram", "image", "scalar", "text"]

logger = logging.getLogger("torch_estimator")

_INVALID_TAG_CHARACTERS = re.compile(r"[^-/\w.]")


def scalar(name: str, tensor: Any, collections: Any = None, family: str | None = None) -> str:
    """Records a scalar summary (a 0-d or one-element tensor, or a number); returns its tag.

    ``collections`` is accepted for source compatibility with TF 1 and ignored.

    Raises:
        RuntimeError: called outside model_fn.
        ValueError: ``tensor`` has more than one element.

    >>> from torch_estimator.contract import EstimatorSpec, ModeKeys
    >>> from torch_estimator.graph import Graph
    >>> def model_fn(features, mode):
    ...     scalar("total", features.sum(), family="sums")
    ...     return EstimatorSpec(mode, predictions={"x": features})
    >>> graph = Graph(model_fn)
    >>> _ = graph(torch.ones(2), None, ModeKeys.PREDICT)
    >>> graph.summaries["sums/sums/total"]
    ('scalar', tensor(2.))
    """
    graph = _require_graph("te.summary.scalar", name)
    if torch.compiler.is_exporting():
        return _tag(graph, name, family)
    if isinstance(tensor, torch.Tensor):
        if tensor.numel() != 1:
            raise ValueError(
                f"te.summary.scalar({name!r}, ...) needs a scalar (0-d) tensor. Received shape "
                f"{tuple(tensor.shape)}. Reduce it first (tensor.mean()) or use te.summary.histogram."
            )
        value: Any = tensor.detach()
    elif isinstance(tensor, (int, float, np.number, np.ndarray)) and np.size(tensor) == 1:
        value = tensor
    else:
        raise TypeError(
            f"te.summary.scalar({name!r}, ...) needs a tensor or a number. Received: {type(tensor).__name__}."
        )
    return _record(graph, "scalar", name, family, value)


def histogram(name: str, values: Any, collections: Any = None, family: str | None = None) -> str:
    """Records a histogram summary of ``values`` (a tensor of any shape); returns its tag.

    >>> from torch_estimator.contract import EstimatorSpec, ModeKeys
    >>> from torch_estimator.graph import Graph
    >>> def model_fn(features, mode):
    ...     histogram("features", features)
    ...     return EstimatorSpec(mode, predictions={"x": features})
    >>> graph = Graph(model_fn)
    >>> _ = graph(torch.ones(2), None, ModeKeys.PREDICT)
    >>> graph.summaries["features"][0]
    'histogram'
    """
    graph = _require_graph("te.summary.histogram", name)
    if torch.compiler.is_exporting():
        return _tag(graph, name, family)
    value = values.detach() if isinstance(values, torch.Tensor) else torch.as_tensor(values)
    if value.is_complex():
        raise TypeError(
            f"te.summary.histogram({name!r}, ...) needs real values. Received dtype {value.dtype}."
        )
    return _record(graph, "histogram", name, family, value)


def image(
    name: str, tensor: Any, max_outputs: int = 3, collections: Any = None, family: str | None = None
) -> str:
    """Records up to ``max_outputs`` images of an NHWC batch (C = 1, 3 or 4); returns its tag.

    Pixels are uint8, or floats (``[0, 1]`` maps to ``[0, 255]``; see ``protos.image_values`` for
    TF 1's exact scaling). TensorBoard shows them under ``<tag>/image/<i>`` (``<tag>/image`` when
    the batch holds a single image).

    Raises:
        ValueError: not a 4-D tensor with 1, 3 or 4 channels, or ``max_outputs < 1``.

    >>> from torch_estimator.contract import EstimatorSpec, ModeKeys
    >>> from torch_estimator.graph import Graph
    >>> def model_fn(features, mode):
    ...     image("inputs", features, max_outputs=2)
    ...     return EstimatorSpec(mode, predictions={"x": features})
    >>> graph = Graph(model_fn)
    >>> _ = graph(torch.zeros(5, 8, 8, 3), None, ModeKeys.PREDICT)
    >>> tuple(graph.summaries["inputs"][1].shape)
    (2, 8, 8, 3)
    """
    graph = _require_graph("te.summary.image", name)
    if torch.compiler.is_exporting():
        return _tag(graph, name, family)
    if not isinstance(tensor, torch.Tensor) or tensor.dim() != 4 or tensor.shape[-1] not in (1, 3, 4):
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(
            f"te.summary.image({name!r}, ...) needs a 4-D tensor [batch, height, width, channels] with 1, "
            f"3 or 4 channels (NHWC, as TF). Received: {shape}. For NCHW images pass "
            "tensor.permute(0, 2, 3, 1)."
        )
    if tensor.dtype != torch.uint8 and not tensor.is_floating_point():
        raise ValueError(
            f"te.summary.image({name!r}, ...) needs uint8 or float pixels. Received {tensor.dtype}."
        )
    if not isinstance(max_outputs, int) or max_outputs < 1:
        raise ValueError(
            f"te.summary.image({name!r}, ...) needs max_outputs >= 1. Received: {max_outputs!r}."
        )
    return _record(graph, "image", name, family, tensor.detach()[:max_outputs])


def text(name: str, tensor: Any, collections: Any = None) -> str:
    """Records a text summary: a str, bytes, or a list / numpy array of them; returns its tag.

    >>> from torch_estimator.contract import EstimatorSpec, ModeKeys
    >>> from torch_estimator.graph import Graph
    >>> def model_fn(features, mode):
    ...     text("note", "hello")
    ...     return EstimatorSpec(mode, predictions={"x": features})
    >>> graph = Graph(model_fn)
    >>> _ = graph(torch.ones(1), None, ModeKeys.PREDICT)
    >>> graph.summaries["note"]
    ('text', 'hello')
    """
    graph = _require_graph("te.summary.text", name)
    if torch.compiler.is_exporting():
        return _tag(graph, name, None)
    if not isinstance(tensor, (str, bytes, list, tuple, np.ndarray, torch.Tensor)):
        raise TypeError(
            f"te.summary.text({name!r}, ...) needs a str, bytes, or a list / numpy array of them. "
            f"Received: {type(tensor).__name__}."
        )
    value = tensor.detach() if isinstance(tensor, torch.Tensor) else tensor
    return _record(graph, "text", name, None, value)


def clean_tag(name: str) -> str:
    """TF's tag cleaning: characters outside ``[-/\\w.]`` become ``_``; leading slashes are dropped.

    >>> clean_tag("loss (train)")
    'loss__train_'
    """
    cleaned = _INVALID_TAG_CHARACTERS.sub("_", name).lstrip("/")
    if cleaned != name:
        logger.info("Summary name %s is illegal; using %s instead.", name, cleaned)
    return cleaned


def _require_graph(what: str, name: Any) -> Any:
    graph = current_graph()
    if graph is None:
        raise RuntimeError(
            f"{what}({name!r}, ...) must be called inside model_fn, while an Estimator (or a te.Graph) "
            "runs it. Outside model_fn there is no step to record the summary for; write values with "
            "te.summary.writer_for(logdir) instead."
        )
    if not isinstance(name, str):
        raise TypeError(f"{what} needs a str name. Received: {type(name).__name__} {name!r}.")
    return graph


def _record(graph: Any, kind: str, name: str, family: str | None, value: Any) -> str:
    tag = _tag(graph, name, family)
    graph.summaries[tag] = (kind, value)
    return tag


def _tag(graph: Any, name: str, family: str | None) -> str:
    """The tag for ``name``: cleaned, scoped, uniqued against this call's summaries."""
    name = clean_tag(name)
    if family is not None:
        family = clean_tag(family)
        name = f"{family}/{name}"
    base = graph.scoped(name)
    prefix = f"{family}/" if family is not None else ""
    tag = prefix + base
    count = 0
    while tag in graph.summaries:
        # Same name twice in one model_fn call: TF's name scope made it unique the same way.
        count += 1
        tag = f"{prefix}{base}_{count}"
    return tag
