"""One signature's torch.export program, loaded for fast calls.

``torch.export.load(path).module()`` re-checks every call with pytree flattening and shape guards
(about 50 us); the signature already validates its inputs, so this calls the program's lifted
graph directly: ``graph(*parameters_and_buffers, *user_inputs) -> (*mutations, *user_outputs)``.
Buffer mutations come back as outputs and are dropped, so calls are stateless and may run in
several threads at once.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch.export.graph_signature import InputKind, OutputKind

__all__ = ["LoadedProgram", "load_program"]


class LoadedProgram:
    """A callable over one exported program: ``program(*inputs in input_names order) -> dict``.

    ``exported`` is the ``torch.export.ExportedProgram`` itself (``exported.module()`` takes the
    inputs as keyword arguments, the format's documented call convention).
    """

    def __init__(self, exported: torch.export.ExportedProgram) -> None:
        self.exported = exported
        signature = exported.graph_signature
        state: list[Any] = []
        for spec in signature.input_specs:
            if spec.kind == InputKind.USER_INPUT:
                continue
            if spec.kind in (InputKind.PARAMETER, InputKind.BUFFER) and spec.target in exported.state_dict:
                value = exported.state_dict[spec.target]
            elif spec.target in exported.constants:
                value = exported.constants[spec.target]
            else:
                raise ValueError(
                    f"Exported program input {spec.arg.name!r} of kind {spec.kind.name} has no stored value; "
                    "the program file is incomplete or from an unsupported torch version."
                )
            state.append(value.detach() if isinstance(value, torch.Tensor) else value)
        self.state = tuple(state)
        user_inputs = sum(spec.kind == InputKind.USER_INPUT for spec in signature.input_specs)
        _, keyword_positions = pytree.tree_unflatten(list(range(user_inputs)), exported.call_spec.in_spec)
        self.input_names = tuple(sorted(keyword_positions, key=keyword_positions.__getitem__))
        user_outputs = [
            index for index, spec in enumerate(signature.output_specs) if spec.kind == OutputKind.USER_OUTPUT
        ]
        output_positions = pytree.tree_unflatten(list(range(len(user_outputs))), exported.call_spec.out_spec)
        self.outputs = tuple((name, user_outputs[position]) for name, position in output_positions.items())
        # The graph's own forward: nn.Module.__call__'s hook handling would add microseconds per call.
        self._forward = exported.graph_module.forward

    def __call__(self, inputs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            flat = self._forward(*self.state, *inputs)
        return {name: flat[index] for name, index in self.outputs}


def load_program(path: str | os.PathLike[str]) -> LoadedProgram:
    """Loads ``path`` (a ``.pt2`` file written by ``torch.export.save``)."""
    with warnings.catch_warnings():
        # Some torch versions' archive reader wraps its read-only file buffer with frombuffer and
        # warns; the program only ever reads those weights.
        warnings.filterwarnings("ignore", message="The given buffer is not writable", category=UserWarning)
        exported = torch.export.load(os.fspath(path))
    return LoadedProgram(exported)
