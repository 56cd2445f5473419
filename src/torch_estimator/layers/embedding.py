"""Embedding lookups: ``tf.nn.embedding_lookup`` and a layer that owns its table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torch_estimator.graph import initializers
from torch_estimator.layers.base import current_graph_for, layer_name, layer_variable

__all__ = ["DEFAULT_EMBEDDING_INITIALIZER", "embedding", "embedding_lookup"]

DEFAULT_EMBEDDING_INITIALIZER = initializers.random_uniform(-0.05, 0.05)
"""Uniform on ``[-0.05, 0.05)``: the default of Keras' ``Embedding`` layer, which ``embedding`` follows.

(``tf.feature_column.embedding_column`` used a truncated normal with stddev ``1/sqrt(dimension)``;
feature columns set that themselves.)
"""


def embedding_lookup(
    params: torch.Tensor | Sequence[torch.Tensor],
    ids: torch.Tensor | Any,
    partition_strategy: str = "mod",
    name: str | None = None,
    max_norm: float | None = None,
) -> torch.Tensor:
    """Rows of ``params`` by ``ids``: a ``[*ids.shape, *params.shape[1:]]`` tensor (TF semantics).

    ``params`` is a tensor (usually a variable) or a list of shards of one table, split as TF's
    ``partition_strategy``: ``"mod"`` (id ``i`` lives in shard ``i % n``) or ``"div"`` (contiguous
    blocks). With ``max_norm``, each looked-up row is scaled down to L2 norm ``max_norm`` when its
    norm exceeds it (``tf.clip_by_norm`` on the result; ``params`` itself is not changed, unlike
    ``torch.nn.functional.embedding``'s ``max_norm``). Gradients flow to ``params``.

    Raises:
        ValueError: an empty shard list or an unknown partition_strategy.
        IndexError: an id outside the table (torch's own check).

    >>> table = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    >>> embedding_lookup(table, torch.tensor([[1, 2]])).tolist()
    [[[3.0, 4.0], [1.0, 1.0]]]
    >>> embedding_lookup(table, torch.tensor([1]), max_norm=1.0).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    del name  # no variables
    table = params if isinstance(params, torch.Tensor) else _join_shards(params, partition_strategy)
    if not isinstance(ids, torch.Tensor):
        ids = torch.as_tensor(ids, device=table.device)
    if not isinstance(params, torch.Tensor) and len(params) > 1 and partition_strategy == "mod":
        ids = _mod_ids(params, ids)
    # F.embedding takes a 2-D table; tables of higher rank are looked up as flat rows.
    flat = table if table.dim() == 2 else table.reshape(table.shape[0], -1)
    rows = F.embedding(ids, flat)
    if table.dim() != 2:
        rows = rows.reshape(*ids.shape, *table.shape[1:])
    if max_norm is None:
        return rows
    dims = tuple(range(ids.dim(), rows.dim()))
    norms = torch.linalg.vector_norm(rows, dim=dims, keepdim=True)
    return rows * (max_norm / norms.clamp(min=max_norm))


def _join_shards(shards: Sequence[torch.Tensor], partition_strategy: str) -> torch.Tensor:
    if partition_strategy not in ("mod", "div"):
        raise ValueError(
            f"partition_strategy must be 'mod' or 'div'. Received: partition_strategy={partition_strategy!r}."
        )
    shards = list(shards)
    if not shards:
        raise ValueError(
            "embedding_lookup needs params: a tensor or a non-empty list of shards. Received: []."
        )
    # "div" shards hold consecutive id blocks, so their concatenation is the table in id order;
    # "mod" shards are interleaved and are reindexed by _mod_ids.
    return shards[0] if len(shards) == 1 else torch.cat(shards)


def _mod_ids(shards: Sequence[torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
    """Row of each id in the concatenated shards when id ``i`` is row ``i // n`` of shard ``i % n``."""
    count = len(shards)
    offsets = [0]
    for shard in shards[:-1]:
        offsets.append(offsets[-1] + shard.shape[0])
    offset = torch.tensor(offsets, dtype=ids.dtype, device=ids.device)
    return offset[ids % count] + ids // count


def embedding(
    ids: torch.Tensor | Any,
    vocab_size: int,
    dimension: int,
    initializer: Any = None,
    trainable: bool = True,
    max_norm: float | None = None,
    name: str | None = None,
) -> torch.Tensor:
    """Looks ``ids`` up in a ``[vocab_size, dimension]`` table owned by the Graph.

    The table is ``<name>/embeddings`` (``name`` defaults to ``embedding``, ``embedding_1``, ...),
    initialised by ``initializer`` or, by default, uniform on ``[-0.05, 0.05)`` as Keras'
    ``Embedding`` layer did. The result has shape ``[*ids.shape, dimension]``.

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract import EstimatorSpec
    >>> def model_fn(features, mode):
    ...     return EstimatorSpec(mode, predictions=embedding(features, vocab_size=10, dimension=4))
    >>> graph = Graph(model_fn)
    >>> graph(torch.tensor([[1, 2, 3]]), None, "infer").predictions.shape
    torch.Size([1, 3, 4])
    >>> tuple(graph.state_dict()["embedding/embeddings"].shape)
    (10, 4)
    """
    graph = current_graph_for("embedding")
    layer = layer_name(graph, "embedding", name)
    for arg_name, value in (("vocab_size", vocab_size), ("dimension", dimension)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(
                f"{layer}: `{arg_name}` must be a positive integer. Received: {arg_name}={value!r}."
            )
    if not isinstance(ids, torch.Tensor):
        ids = torch.as_tensor(ids)
    initializer = DEFAULT_EMBEDDING_INITIALIZER if initializer is None else initializer
    table = layer_variable(
        graph, layer, "embeddings", (vocab_size, dimension), initializer, ids, torch.float32, trainable
    )
    return embedding_lookup(table, ids.to(table.device), max_norm=max_norm)
