"""Row tables kept in one tensor: one lookup, one duplicate merge and one sparse update for many variables.

A wide model holds one ``[rows, width]`` table per categorical column (TF: one variable each, e.g.
``linear/linear_model/C1/weights``). Looking each up, merging each table's duplicate ids and applying
each table's sparse update costs a handful of small operations per table and step. ``FusedRows``
stores such tables as consecutive row blocks of ONE tensor, its ``storage``: every variable stays
registered under its own name and shape (checkpoints, ``get_variable_value``, warm start and
export see nothing new) but its data is a view of its block, so writing either writes both.

A layer that reads the tables through the storage (``feature_column``'s fused lookups, with ids
shifted by each table's ``offsets``) sends ONE row-sparse gradient to ``storage.grad`` instead of
one per variable. ``te.train`` applies it:

* a rule that takes sparse gradients (SGD, Adagrad, Ftrl) updates the storage once; its slots live
  in one tensor per slot whose blocks are each variable's slot (``<variable>/Adagrad`` stays a
  ``[rows, width]`` tensor of its own name);
* any other optimizer, or a clipped / loss-scaled step, gets the gradient split into each
  variable's own row-sparse gradient first (``split_gradient``): exactly the gradients per-table
  lookups would have produced, in the same order.

A variable replaced behind the storage's back (a restore that assigns a new tensor, a device
move) is noticed by ``current`` and the storage is rebuilt from the variables' values.

A Graph whose variables leave it one by one (the Graph an export traces: ``torch.export`` saves
each parameter as a tensor owning its storage) calls ``FusedRowsRegistry.unfuse`` first: every
member gets its own copy of its block and the Graph fuses no more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from torch_estimator.train.update_rules import slot_shape_error

__all__ = ["FusedRows", "FusedRowsRegistry", "fused_rows_registry"]

Tensor = torch.Tensor

_REGISTRY_KEY = "train/fused_rows"


class FusedRows:
    """Variables ``members`` (same width, dtype and device) stored as row blocks of ``storage``.

    >>> a, b = torch.nn.Parameter(torch.zeros(2, 1)), torch.nn.Parameter(torch.ones(3, 1))
    >>> fused = FusedRows(("a", "b"), [a, b])
    >>> fused.offsets, fused.storage.shape
    ([0, 2], torch.Size([5, 1]))
    >>> with torch.no_grad():
    ...     fused.storage[2, 0] = 7.0
    >>> b.flatten().tolist()
    [7.0, 1.0, 1.0]
    """

    def __init__(self, names: Sequence[str], members: Sequence[Tensor]) -> None:
        self.names = tuple(names)
        self.members: list[Tensor] = []
        self.sizes: list[int] = []
        self.shapes: tuple[tuple[int, ...], ...] = ()
        self.offsets: list[int] = []
        self.storage = torch.empty(0)
        self.offset_tensor = torch.empty(0, dtype=torch.long)
        self.pointers: list[int] = []
        # (id of the rule, slot key) -> (the fused slot, the member views handed to the rule's state).
        self.slot_blocks: dict[tuple[int, str], tuple[Tensor, list[Tensor]]] = {}
        self.rebuild(members)

    def rebuild(self, members: Sequence[Tensor]) -> None:
        """Copies ``members`` into a new storage and makes each a view of its block."""
        first = members[0]
        with torch.no_grad():
            storage = torch.cat([member.detach() for member in members])
        storage.requires_grad_(first.requires_grad)
        self.members = list(members)
        self.sizes = [int(member.shape[0]) for member in members]
        self.shapes = tuple(tuple(member.shape) for member in members)
        self.offsets = [sum(self.sizes[:index]) for index in range(len(self.sizes))]
        base = storage.detach()
        for member, start, size in zip(self.members, self.offsets, self.sizes, strict=True):
            member.data = base.narrow(0, start, size)
        self.storage = storage
        self.offset_tensor = torch.tensor(self.offsets, dtype=torch.long, device=storage.device)
        self.pointers = [member.data_ptr() for member in self.members]
        self.slot_blocks.clear()

    def current(self, members: Sequence[Tensor]) -> bool:
        """Whether ``members`` (the variables now registered under ``names``) are still the blocks."""
        if len(members) != len(self.members):
            return False
        for member, own, pointer in zip(members, self.members, self.pointers, strict=True):
            if member is not own or member.data_ptr() != pointer:
                return False
        return True

    def slot(self, state: Any, rule: Any, key: str, initial: Callable[[Tensor], Tensor]) -> Tensor:
        """The fused slot ``key`` of ``rule``; each member's ``state[member][key]`` is its block.

        A member whose slot a restore replaced (or that has none yet) is copied in (or starts at
        ``initial(member)``), so the fused slot always equals the members' slots.
        """
        found = self.slot_blocks.get((id(rule), key))
        if found is not None:
            full, views = found
            if all(state[member].get(key) is view for member, view in zip(self.members, views, strict=True)):
                return full
        pieces = []
        for member, name in zip(self.members, self.names, strict=True):
            value = state[member].get(key)
            if value is None:
                value = initial(member)
            elif value.shape != member.shape:
                raise slot_shape_error(f"{type(rule).__name__} slot {key!r} of {name}", value, member)
            pieces.append(value.to(device=self.storage.device, dtype=self.storage.dtype))
        full = torch.cat(pieces)
        views = [full.narrow(0, start, size) for start, size in zip(self.offsets, self.sizes, strict=True)]
        for member, view in zip(self.members, views, strict=True):
            state[member][key] = view
        self.slot_blocks[(id(rule), key)] = (full, views)
        return full

    def split_gradient(self) -> None:
        """Moves ``storage.grad`` into each member's ``.grad`` (added to one already there).

        A row-sparse gradient becomes one row-sparse gradient per member holding its entries in
        their order; a dense one becomes views of its blocks.
        """
        grad = self.storage.grad
        if grad is None:
            return
        self.storage.grad = None
        for member, piece in zip(self.members, self.member_gradients(grad), strict=True):
            if piece is not None:
                member.grad = piece if member.grad is None else member.grad + piece

    def member_gradients(self, grad: Tensor) -> list[Tensor | None]:
        """``grad`` (of the storage) cut into each member's gradient; None for a member it misses."""
        if not grad.is_sparse:
            return [grad.narrow(0, start, size) for start, size in zip(self.offsets, self.sizes, strict=True)]
        # torch's names for the stored (uncoalesced) indices and values.
        ids, values = grad._indices()[0], grad._values()
        pieces: list[Tensor | None] = []
        for member, start, size in zip(self.members, self.offsets, self.sizes, strict=True):
            positions = ((ids >= start) & (ids < start + size)).nonzero().squeeze(1)
            if positions.numel() == 0:
                pieces.append(None)
                continue
            rows = (ids.index_select(0, positions) - start).unsqueeze(0)
            # The rows are in range by construction: no invariant check needed.
            pieces.append(
                torch.sparse_coo_tensor(
                    rows, values.index_select(0, positions), tuple(member.shape), check_invariants=False
                )
            )
        return pieces


@dataclass
class FusedRowsRegistry:
    """The Graph's fused tables by key; ``generation`` counts the tables made or dropped (for
    caches); ``fusing`` says whether layers may fuse tables (``unfuse`` turns it off)."""

    tables: dict[str, FusedRows] = field(default_factory=dict)
    generation: int = 0
    fusing: bool = True

    def unfuse(self) -> None:
        """Gives every member its own contiguous copy of its block, drops the tables, fuses no more.

        Values, names and shapes stay; only the shared storage goes (an exported program's
        parameters must each own their storage).

        >>> registry = FusedRowsRegistry()
        >>> a, b = torch.nn.Parameter(torch.zeros(2, 1)), torch.nn.Parameter(torch.ones(3, 1))
        >>> _ = registry.get("t", ("a", "b"), [a, b])
        >>> registry.unfuse()
        >>> [m.untyped_storage().nbytes() for m in (a, b)], b.flatten().tolist(), registry.tables
        ([8, 12], [1.0, 1.0, 1.0], {})
        """
        self.fusing = False
        if not self.tables:
            return
        with torch.no_grad():
            for table in self.tables.values():
                for member in table.members:
                    member.data = member.data.clone(memory_format=torch.contiguous_format)
        self.tables.clear()
        self.generation += 1

    def get(self, key: str, names: Sequence[str], members: Sequence[Tensor]) -> FusedRows:
        """The fused table ``key`` over ``members`` (registered as ``names``), made or rebuilt as needed."""
        table = self.tables.get(key)
        if table is None or table.names != tuple(names):
            table = FusedRows(names, members)
            self.tables[key] = table
            self.generation += 1
        elif not table.current(members):
            table.rebuild(members)
        return table

    def touching(self, params: Iterable[Tensor]) -> list[FusedRows]:
        """The tables with at least one member among ``params``."""
        ids = {id(param) for param in params}
        return [table for table in self.tables.values() if any(id(member) in ids for member in table.members)]

    def covering(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        """``tensors`` with the members of each table found whole among them replaced by its
        storage (detached): the same elements, in fewer tensors (for a count over all of them)."""
        ids = {id(tensor) for tensor in tensors}
        whole = [
            table
            for table in self.tables.values()
            if table.members and all(id(member) in ids for member in table.members)
        ]
        if not whole:
            return list(tensors)
        replaced = {id(member) for table in whole for member in table.members}
        kept = [tensor for tensor in tensors if id(tensor) not in replaced]
        return kept + [table.storage.detach() for table in whole]


def fused_rows_registry(graph: Any) -> FusedRowsRegistry:
    """The registry of ``graph`` (a ``te.Graph``), made on first use."""
    return graph.get_object(_REGISTRY_KEY, FusedRowsRegistry)
