"""Class-id outputs as strings: torch has no string tensors, so the export stores int64 ids plus the
vocabulary that names them, and a loaded signature turns the ids into bytes, as TF returned them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["name_class_ids", "read_output_vocabularies"]


def read_output_vocabularies(name: str, entry: Mapping[str, Any]) -> dict[str, tuple[str, ...] | None]:
    """A signature entry's ``output_vocabularies`` ({} in format 1 files, which had none).

    Raises:
        ValueError: the entry is not ``{output name: list of strings | null}`` over the signature's outputs.

    >>> entry = {"outputs": {"classes": {}}, "output_vocabularies": {"classes": ["a"]}}
    >>> read_output_vocabularies("predict", entry)
    {'classes': ('a',)}
    """
    found = entry.get("output_vocabularies") or {}
    outputs = entry.get("outputs", {})
    pairs = found.items() if isinstance(found, Mapping) else [("<not a mapping>", found)]
    checked: dict[str, tuple[str, ...] | None] = {}
    for output, vocabulary in pairs:
        valid = vocabulary is None or (
            isinstance(vocabulary, list) and all(isinstance(word, str) for word in vocabulary)
        )
        if output not in outputs or not valid:
            raise ValueError(
                f"Signature {name!r} has an invalid output_vocabularies entry {output!r}: {vocabulary!r}. "
                f"Expected {{output name: list of strings or null}} over its outputs {sorted(outputs)}. "
                "Export the model again."
            )
        checked[output] = None if vocabulary is None else tuple(vocabulary)
    return checked


def name_class_ids(ids: torch.Tensor, vocabulary: Sequence[str] | None) -> np.ndarray:
    """Integer class ``ids`` as an object array of bytes: ``vocabulary[id]``, or ``str(id)`` when
    ``vocabulary`` is None (what ``Estimator.predict()`` yields for the same output).

    Raises:
        ValueError: non-integer ids, or an id outside the vocabulary.

    >>> name_class_ids(torch.tensor([[1], [0]]), ["cat", "dog"]).tolist()
    [[b'dog'], [b'cat']]
    >>> name_class_ids(torch.tensor([0, 1]), None).tolist()
    [b'0', b'1']
    """
    values = ids.detach().cpu().numpy()
    if values.dtype.kind not in "iu":
        raise ValueError(f"Class ids must be integers to be named. Received a tensor of dtype {ids.dtype}.")
    if vocabulary is None:
        names = np.empty(values.shape, dtype=object)
        names.flat[:] = [str(int(i)).encode() for i in values.flat]
        return names
    out_of_range = (values < 0) | (values >= len(vocabulary))
    if out_of_range.any():
        raise ValueError(
            f"Class ids must be in [0, {len(vocabulary)}) to be named by the vocabulary {list(vocabulary)}. "
            f"Received ids {sorted(set(values[out_of_range].tolist()))}."
        )
    table = np.array([word.encode() for word in vocabulary] + [None], dtype=object)
    return table[values]
