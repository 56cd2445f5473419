"""Fused lookups: the tables of several categorical columns of one layer read as one ``FusedRows``.

The canned estimators' layers (``input_layer`` of the DNN, ``linear_model`` of the linear part)
look up one table per categorical column. With the tables fused (``train.fused_rows``) one lookup
of every column's ids, shifted by its table's offset, gives all their rows at once, and the
backward pass leaves one row-sparse gradient on the storage. Each column's table keeps its TF
variable (``<layer>/<column>/weights``, ``.../<column>_embedding/embedding_weights``).

Only a layer that asks for it fuses (``te.train`` optimizers then apply the storage's gradient;
see ``train.fused_rows``): the first call of model_fn creates the tables column by column as
always, in the same order and from the same random numbers, then fuses them; later calls read
through the storage. Tracing (torch.compile / export) and multi-process training keep per-table
lookups, whose gradients DDP and FSDP reduce; a Graph built for export never fuses (its registry's
``unfuse`` turned ``fusing`` off), so each exported variable owns its storage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from torch_estimator.feature_column.base import CategoricalColumn, TransformCache
from torch_estimator.feature_column.ids import IdBatch, combine_embeddings, is_tracing, lookup_rows
from torch_estimator.graph.graph import Graph
from torch_estimator.train.fused_rows import fused_rows_registry

__all__ = ["FusedGroup", "FusedLayer", "Member", "fused_layer", "fused_lookups_apply", "variable_name"]


def fused_lookups_apply() -> bool:
    """Whether layers may read fused tables now: not tracing, no process group up.

    >>> fused_lookups_apply()
    True
    """
    if is_tracing():
        return False
    return not (torch.distributed.is_available() and torch.distributed.is_initialized())


def variable_name(scope: str, column_scope: str, name: str) -> str:
    """The full name ``ColumnVariables`` gives variable ``name`` of a column.

    >>> variable_name("linear/linear_model", "C1", "weights")
    'linear/linear_model/C1/weights'
    """
    return "/".join(part for part in (scope, column_scope, name) if part)


@dataclass(frozen=True)
class FusedGroup:
    """Categorical columns of one layer whose ``[num_buckets, width]`` tables are fused.

    ``columns`` are the layer's columns (embedding or categorical), ``categorical`` the columns
    whose ids they look up, ``names`` their tables' full variable names, ``combiners`` how each
    combines multivalent ids.
    """

    key: str
    columns: tuple[object, ...]
    categorical: tuple[CategoricalColumn, ...]
    names: tuple[str, ...]
    shapes: tuple[tuple[int, int], ...]
    combiners: tuple[str, ...]

    def rows(self, graph: Graph, cache: TransformCache) -> torch.Tensor | None:
        """``[B, len(columns), width]``: each column's combined rows, or None when the tables are
        not fused (yet) or the batch sizes differ (the per-column path then says which)."""
        table = fused_rows_registry(graph).tables.get(self.key)
        if table is None or table.names != self.names:
            return None
        members = [graph.find_variable(name) for name in self.names]
        if not table.current(members):  # type: ignore[arg-type]
            if not _fusable(members):
                return None
            table.rebuild(members)  # type: ignore[arg-type]
        if table.shapes != self.shapes:
            return None
        batches = [cache.ids(column) for column in self.categorical]
        size = batches[0].ids.shape[0]
        if any(batch.ids.shape[0] != size for batch in batches):
            return None
        storage, width = table.storage, self.shapes[0][1]
        if all(
            batch.weights is None and batch.ids.dim() == 2 and batch.ids.shape[1] == 1 for batch in batches
        ):
            # One id of weight 1 per example: every combiner gives the row itself.
            ids = torch.cat([batch.ids for batch in batches], dim=1) + table.offset_tensor
            return lookup_rows(storage, ids.reshape(-1)).reshape(size, len(batches), width)
        combined = [
            combine_embeddings(storage, IdBatch(batch.ids + offset, batch.weights), combiner)
            for batch, offset, combiner in zip(batches, table.offsets, self.combiners, strict=True)
        ]
        return torch.stack(combined, dim=1)

    def fuse(self, graph: Graph) -> None:
        """Fuses the tables once every one exists as a trainable variable (after a per-column call)."""
        members = [graph.find_variable(name) for name in self.names]
        if not _fusable(members):
            return
        fusable: list[torch.Tensor] = members  # type: ignore[assignment]
        if tuple(tuple(member.shape) for member in fusable) == self.shapes:
            fused_rows_registry(graph).get(self.key, self.names, fusable)


def _fusable(members: Sequence[torch.Tensor | None]) -> bool:
    """Trainable parameters of one dtype, device and width (what one storage can hold)."""
    first = members[0]
    if not isinstance(first, torch.nn.Parameter) or first.dim() != 2:
        return False
    return all(
        isinstance(member, torch.nn.Parameter)
        and member.requires_grad
        and member.dim() == 2
        and member.shape[1] == first.shape[1]
        and member.dtype == first.dtype
        and member.device == first.device
        for member in members
    )


@dataclass(frozen=True)
class Member:
    """How a layer reads one column from a fused table."""

    categorical: CategoricalColumn
    name: str
    """The table's full variable name."""
    shape: tuple[int, int]
    combiner: str


@dataclass(frozen=True)
class FusedLayer:
    """One layer's columns, in order, and the fused groups among them.

    ``pieces`` lists the layer's output pieces: an int is a column read on its own (its position),
    ``(group, first, count)`` is a run of ``count`` consecutive columns that are members
    ``first, ..., first + count - 1`` of ``groups[group]``.
    """

    given: tuple[object, ...]
    """The columns as the layer was given them (the plan is kept while they are the same objects)."""
    columns: tuple[object, ...]
    """The columns as the layer reads them (checked and sorted)."""
    groups: tuple[FusedGroup, ...]
    pieces: tuple[int | tuple[int, int, int], ...]

    def matches(self, given: Sequence[object]) -> bool:
        """Whether this plan was made for exactly these column objects."""
        return len(given) == len(self.given) and all(
            mine is theirs for mine, theirs in zip(self.given, given, strict=True)
        )

    def group_rows(self, graph: Graph, cache: TransformCache) -> list[torch.Tensor] | None:
        """Every group's ``rows`` (None when a group is not fused: use the per-column path)."""
        if not self.groups or not fused_lookups_apply():
            return None
        found = []
        for group in self.groups:
            rows = group.rows(graph, cache)
            if rows is None:
                return None
            found.append(rows)
        return found

    def outputs(
        self,
        rows: Sequence[torch.Tensor],
        column_output: Callable[[int], torch.Tensor],
        block_output: Callable[[torch.Tensor], torch.Tensor],
    ) -> list[torch.Tensor]:
        """The layer's output pieces in order: ``column_output(position)`` for a column read on its
        own, ``block_output(rows)`` for a run of fused columns (``rows[:, first:first + count]``)."""
        found = []
        for piece in self.pieces:
            if isinstance(piece, int):
                found.append(column_output(piece))
            else:
                group, first, count = piece
                found.append(block_output(rows[group][:, first : first + count]))
        return found

    def fuse(self, graph: Graph) -> None:
        """Fuses every group's tables (after a per-column call made them), unless the Graph is unfused."""
        if fused_lookups_apply() and fused_rows_registry(graph).fusing:
            for group in self.groups:
                group.fuse(graph)


def fused_layer(
    graph: Graph,
    key: str,
    given: Sequence[object],
    normalize: Callable[[Sequence[object]], Sequence[object]],
    member: Callable[[object], Member | None],
) -> FusedLayer:
    """The plan of the layer ``key`` over the columns ``given`` (made once per Graph and columns).

    ``normalize(given)`` checks and orders the columns as the layer reads them (its errors are
    raised here); ``member(column)`` says how the layer reads a column's table, or None for a
    column it does not fuse. Members are grouped by table width; a group needs two tables at least.
    """
    found = graph.objects.get(key)
    if isinstance(found, FusedLayer) and found.matches(given):
        return found
    columns = list(normalize(given))
    by_width: dict[int, list[tuple[object, Member]]] = {}
    for column in columns:
        read = member(column)
        if read is not None:
            by_width.setdefault(read.shape[1], []).append((column, read))
    groups = tuple(
        FusedGroup(
            f"{key}/{width}",
            tuple(column for column, _ in reads),
            tuple(read.categorical for _, read in reads),
            tuple(read.name for _, read in reads),
            tuple(read.shape for _, read in reads),
            tuple(read.combiner for _, read in reads),
        )
        for width, reads in by_width.items()
        if len(reads) >= 2
    )
    layer = FusedLayer(tuple(given), tuple(columns), groups, _pieces(columns, groups))
    graph.objects[key] = layer
    return layer


def _pieces(
    columns: Sequence[object], groups: Sequence[FusedGroup]
) -> tuple[int | tuple[int, int, int], ...]:
    where = {
        id(column): (number, index)
        for number, group in enumerate(groups)
        for index, column in enumerate(group.columns)
    }
    pieces: list[int | tuple[int, int, int]] = []
    for position, column in enumerate(columns):
        found = where.get(id(column))
        if found is None:
            pieces.append(position)
            continue
        last = pieces[-1] if pieces else None
        if isinstance(last, tuple) and last[0] == found[0] and last[1] + last[2] == found[1]:
            pieces[-1] = (last[0], last[1], last[2] + 1)
        else:
            pieces.append((found[0], found[1], 1))
    return tuple(pieces)
