"""Work shared between metrics fed the same tensors: a Graph's ``FoldMemo``.

A head passes one tensor to several metrics (labels to accuracy, mean_iou and recall_at_k; one
probability column to the ROC and the PR AUC). Their states defer the same batches and flush them
together (``state.PendingFolds``), so the concatenation of each input, and the expensive middle of
some folds (an AUC's histogram increment, the rank of each label among the scores), would be
computed once per metric. The memo keeps the results of one flush, keyed by the identity of the
tensors they came from: a key of ids is exact because the memo holds those tensors, so their ids
can not be reused while the entry lives (a concatenation, of a hundred parts or so, is keyed by its
first and last part and its length, and the parts between are compared one by one). Folds must
therefore never modify their inputs in place.
"""

from __future__ import annotations

import operator
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

import torch

__all__ = ["FoldMemo"]

T = TypeVar("T")

_DTYPE = operator.attrgetter("dtype")


class FoldMemo:
    """The last ``size`` concatenations and fold intermediates, by the identity of their inputs;
    ``made`` counts the results computed, by purpose (what was shared is what was not made twice).

    >>> memo = FoldMemo()
    >>> parts = (torch.tensor([1, 2]), torch.tensor([3]))
    >>> memo.concatenate(parts) is memo.concatenate(parts)
    True
    >>> memo.get("double", parts[:1], lambda: parts[0] * 2)
    tensor([2, 4])
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.made: Counter[str] = Counter()
        self._entries: OrderedDict[Hashable, tuple[Sequence[Any], Any]] = OrderedDict()

    def concatenate(self, parts: Sequence[torch.Tensor]) -> torch.Tensor:
        """``torch.cat(parts)`` (``torch.stack`` when they are 0-d), made once for the same parts.

        Raises:
            RuntimeError: the parts do not concatenate (shapes, ranks, devices).
            TypeError: the parts have different dtypes (concatenating would promote them, which a
                fold's casts may not undo).
        """
        # A column holds a tensor per deferred batch (about a hundred): it is keyed by its ends and
        # its length, and a hit is checked part by part, which costs less than a key of every id.
        key = ("concatenate", id(parts[0]), id(parts[-1]), len(parts))
        found = self._entries.get(key)
        if found is not None and all(map(operator.is_, found[0], parts)):
            self._entries.move_to_end(key)
            return found[1]
        value = _concatenate(parts)
        self._store("concatenate", key, parts, value)
        return value

    def get(
        self, purpose: str, inputs: Sequence[Any], compute: Callable[[], T], params: Hashable = None
    ) -> T:
        """``compute()``, or its result from an earlier call with the same ``purpose``, ``params``
        and input objects (by identity)."""
        key = (purpose, params, *map(id, inputs))
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found[1]
        value = compute()
        self._store(purpose, key, inputs, value)
        return value

    def _store(self, purpose: str, key: Hashable, inputs: Sequence[Any], value: Any) -> None:
        self.made[purpose] += 1
        self._entries.pop(key, None)  # a column with the same ends replaced: the new one is the newest
        self._entries[key] = (tuple(inputs), value)  # holding the inputs keeps their ids unique
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def purposes(self) -> list[str]:
        """The purpose of each entry, oldest first (to inspect what is shared)."""
        return [key[0] for key in self._entries]

    def clear(self) -> None:
        """Drops every entry (and the tensors it holds)."""
        self._entries.clear()


def _concatenate(parts: Sequence[torch.Tensor]) -> torch.Tensor:
    joined = torch.stack(tuple(parts)) if parts[0].dim() == 0 else torch.cat(tuple(parts))
    # Checked after joining them, which brings each part's header into the cache: a part last
    # touched a hundred batches ago costs a cache miss here otherwise (about 3 us a column on W1).
    dtypes = set(map(_DTYPE, parts))
    if len(dtypes) != 1:
        raise TypeError(f"Parts of dtypes {sorted(map(str, dtypes))} do not concatenate.")
    return joined
