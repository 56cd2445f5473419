"""The one form categorical ids take: a padded id tensor with per-position weights.

TF carried multivalent ids as a SparseTensor. Here a batch of ids is an ``IdBatch``: ``ids`` of
shape ``[B, K]`` (``[B, T, K]`` for sequence columns) and ``weights`` of the same shape, ``0.0`` at
padding positions (where ``ids`` holds 0). ``weights=None`` means every position holds a valid id
of weight 1: the common single-valued case, which takes a plain ``F.embedding``. Every shape is
static, so the same code runs eagerly, under ``torch.compile`` and under ``torch.export``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from torch_estimator.layers.embedding import embedding_lookup

__all__ = [
    "COMBINERS",
    "IdBatch",
    "combine_embeddings",
    "is_tracing",
    "lookup_rows",
    "multi_hot",
    "sparse_gradients_apply",
]

COMBINERS = ("mean", "sqrtn", "sum")
"""How several ids of one example combine (TF's ``combiner`` / ``sparse_combiner``)."""


class IdBatch(NamedTuple):
    """Ids of one categorical column for a batch (module docstring)."""

    ids: torch.Tensor
    """int64 ``[B, K]`` (or ``[B, T, K]``); 0 at padding positions."""
    weights: torch.Tensor | None
    """float32, same shape as ``ids``, 0 at padding; None when all positions are valid with weight 1."""

    @staticmethod
    def from_mask(ids: torch.Tensor, valid: torch.Tensor | None) -> IdBatch:
        """Ids with ``valid`` (a bool mask, or None for all valid); invalid positions become padding.

        >>> IdBatch.from_mask(torch.tensor([[3, -1]]), torch.tensor([[True, False]]))
        IdBatch(ids=tensor([[3, 0]]), weights=tensor([[1., 0.]]))
        """
        if valid is None:
            return IdBatch(ids, None)
        return IdBatch(ids.masked_fill(~valid, 0), valid.to(torch.float32))

    def valid(self) -> torch.Tensor:
        """A bool mask of the positions that hold an id (weight > 0)."""
        if self.weights is None:
            return torch.ones_like(self.ids, dtype=torch.bool)
        return self.weights > 0


def is_tracing() -> bool:
    """Whether torch.compile / torch.export is tracing: data-dependent checks are skipped then."""
    exporting = getattr(torch.compiler, "is_exporting", None)  # torch >= 2.5
    return torch.compiler.is_compiling() or (exporting is not None and exporting())


def combine_embeddings(
    table: torch.Tensor, batch: IdBatch, combiner: str = "sum", max_norm: float | None = None
) -> torch.Tensor:
    """Rows of ``table`` for each example's ids, combined: ``[*lead, D]`` for ids ``[*lead, K]``.

    ``sum`` adds the weighted rows, negative weights included; ``mean`` divides by the sum of
    weights, ``sqrtn`` by the square root of the sum of squared weights, both after dropping weights
    <= 0 (TF's ``safe_embedding_lookup_sparse``). Examples without ids give zeros, as there.
    ``max_norm`` clips each looked-up row first.

    >>> table = torch.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]])
    >>> batch = IdBatch(torch.tensor([[0, 1], [2, 0]]), torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
    >>> combine_embeddings(table, batch, "mean").tolist()
    [[0.5, 1.0], [4.0, 4.0]]
    """
    ids, weights = batch
    lead, width = ids.shape[:-1], ids.shape[-1]
    dimension = table.shape[1]
    flat_ids = ids.reshape(-1, width)
    flat_weights = None if weights is None else weights.reshape(-1, width).to(table.dtype)
    if flat_weights is not None and combiner != "sum":
        # TF's safe_embedding_lookup_sparse prunes weights <= 0 for mean and sqrtn only: a sum keeps
        # negative weights (padding has weight 0 and adds nothing either way).
        flat_weights = flat_weights.clamp(min=0)
    if width == 0:
        return table.new_zeros((*lead, dimension))
    if max_norm is not None:
        rows = embedding_lookup(table, flat_ids, max_norm=max_norm)
    elif flat_weights is None and width == 1:
        # One id of weight 1 per example: every combiner gives the row itself.
        return lookup_rows(table, flat_ids.reshape(-1)).reshape(*lead, dimension)
    else:
        rows = lookup_rows(table, flat_ids.reshape(-1)).reshape(-1, width, dimension)
    if flat_weights is not None:
        rows = rows * flat_weights.unsqueeze(-1)
    summed = rows.sum(1)
    if combiner == "sum":
        combined = summed
    elif flat_weights is None:
        count = float(width) if combiner == "mean" else float(width) ** 0.5
        combined = summed / count
    else:
        total = flat_weights.sum(1) if combiner == "mean" else flat_weights.square().sum(1).sqrt()
        total = total.unsqueeze(1)
        combined = torch.where(total > 0, summed / total.clamp(min=torch.finfo(total.dtype).tiny), 0.0)
    return combined.reshape(*lead, dimension)


def sparse_gradients_apply(table: torch.Tensor) -> bool:
    """Whether a lookup into ``table`` back-propagates a row-sparse (COO) gradient.

    Yes for a trainable leaf table in an eager, single-process backward: the gradient then holds
    only the looked-up rows instead of a table-sized tensor of zeros, and the TF update rules apply
    it row by row (``te.train`` densifies it for any other optimizer). No when tracing
    (torch.compile / export want one dense graph) or when a process group is up (DDP and FSDP
    reduce dense gradients).

    >>> sparse_gradients_apply(torch.nn.Parameter(torch.zeros(3, 2)))
    True
    """
    if not (table.requires_grad and table.is_leaf and torch.is_grad_enabled()) or is_tracing():
        return False
    return not (torch.distributed.is_available() and torch.distributed.is_initialized())


def lookup_rows(table: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``table[ids]`` for 1-D ``ids``, with a row-sparse gradient where ``sparse_gradients_apply``.

    >>> table = torch.nn.Parameter(torch.tensor([[1.0], [2.0], [3.0]]))
    >>> lookup_rows(table, torch.tensor([2, 2])).sum().backward()
    >>> table.grad.is_sparse, table.grad.to_dense().flatten().tolist()
    (True, [0.0, 0.0, 2.0])
    """
    if sparse_gradients_apply(table):
        return torch.nn.functional.embedding(ids, table, sparse=True)
    # index_select's backward (an index_add) is about twice as fast as F.embedding's dense one on CPU.
    return table.index_select(0, ids)


def multi_hot(batch: IdBatch, num_buckets: int) -> torch.Tensor:
    """``[*lead, num_buckets]``: per example, the weights (1 each without weights) summed by id.

    >>> multi_hot(IdBatch(torch.tensor([[2, 2], [0, 0]]), torch.tensor([[1.0, 1.0], [1.0, 0.0]])), 3).tolist()
    [[0.0, 0.0, 2.0], [1.0, 0.0, 0.0]]
    """
    ids, weights = batch
    if weights is None:
        weights = torch.ones(ids.shape, dtype=torch.float32, device=ids.device)
    out = torch.zeros((*ids.shape[:-1], num_buckets), dtype=weights.dtype, device=ids.device)
    return out.scatter_add_(-1, ids, weights)
