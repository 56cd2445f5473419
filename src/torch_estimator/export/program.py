"""One signature as a ``torch.export`` program: keyword inputs, a dynamic batch dimension, dict outputs."""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from torch_estimator.graph.graph import Graph
from torch_estimator.saved_model.format import dtype_name
from torch_estimator.saved_model.program import LoadedProgram
from torch_estimator.train.fused_rows import fused_rows_registry

__all__ = ["SignatureModule", "check_input_names", "safe_attribute_name", "trace_program"]


def safe_attribute_name(name: str) -> str:
    """A Graph variable name as a module attribute name (torch.export's unlift rejects '/' and '.').

    >>> safe_attribute_name("dnn/hiddenlayer_0/kernel"), safe_attribute_name("net.0.weight")
    ('dnn__hiddenlayer_0__kernel', 'net__0__weight')
    """
    return name.replace("/", "__").replace(".", "__")


def check_input_names(signature_name: str, names: Sequence[str]) -> None:
    """Signature inputs become the program's keyword parameters, so they must be Python identifiers.

    Raises:
        ValueError: a name is not an identifier, is a keyword, or is ``self``.

    >>> check_input_names("serving_default", ["x", "image_bytes"])
    """
    for name in names:
        if not name.isidentifier() or keyword.iskeyword(name) or name == "self":
            raise ValueError(
                f"Signature {signature_name!r} cannot take an input named {name!r}: a torch.export program "
                "takes its inputs as keyword arguments, so input names must be Python identifiers (letters, "
                "digits, '_'; not a keyword). Rename the receiver tensor (or feature spec key)."
            )


class SignatureModule(nn.Module):
    """The module torch.export traces for one signature: ``forward(**inputs) -> compute(inputs)``.

    The Graph's variables (and ``extra_tensors``, e.g. metric accumulators) are registered on this
    module under safe names so torch.export lifts them as parameters and buffers; the Graph itself is
    kept out of the submodules, because torch.export's unlift cannot handle '/' in attribute names.
    """

    def __init__(
        self,
        graph: Graph,
        input_names: Sequence[str],
        compute: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
        extra_tensors: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.__dict__["graph"] = graph
        self.__dict__["compute"] = compute
        # Every lifted parameter must own its storage (no views of a fused table).
        fused_rows_registry(graph).unfuse()
        taken: set[str] = set()
        for name, parameter in graph.named_parameters():
            self.register_parameter(_unique(safe_attribute_name(name), taken), parameter)
        for name, buffer in graph.named_buffers():
            self.register_buffer(_unique(safe_attribute_name(name), taken), buffer)
        for name, tensor in (extra_tensors or {}).items():
            self.register_buffer(_unique(safe_attribute_name(name), taken), tensor, persistent=False)

        def forward(**inputs: torch.Tensor) -> dict[str, torch.Tensor]:
            return compute(inputs)

        # torch.export binds keyword inputs by the forward's signature: one keyword-only parameter each.
        forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in input_names]
        )
        self.__dict__["forward"] = forward


def trace_program(
    module: SignatureModule,
    example_inputs: Mapping[str, torch.Tensor],
    free_dims: Mapping[str, Sequence[int]] | None = None,
) -> tuple[torch.export.ExportedProgram, dict[str, dict[str, Any]]]:
    """Exports ``module`` with dim 0 of every input as one dynamic ``batch`` dimension.

    ``free_dims[name]`` lists further dynamic dimensions of an input (a var-len feature's length).
    Returns the program and its outputs' specs ``{name: {"dtype", "shape"}}`` with -1 for every
    dynamic dimension.
    """
    batch = torch.export.Dim("batch")
    dynamic_shapes: dict[str, dict[int, Any]] = {}
    for name in example_inputs:
        dims: dict[int, Any] = {0: batch}
        for dim in (free_dims or {}).get(name, ()):
            dims[dim] = torch.export.Dim(f"{name}_dim{dim}")
        dynamic_shapes[name] = dims
    with torch.no_grad():
        exported = torch.export.export(
            module, (), kwargs=dict(example_inputs), dynamic_shapes=dynamic_shapes, strict=False
        )
    return exported, output_specs(exported)


def output_specs(exported: torch.export.ExportedProgram) -> dict[str, dict[str, Any]]:
    """``{output name: {"dtype", "shape"}}`` of a program, -1 for dynamic dimensions."""
    (output_node,) = (node for node in exported.graph.nodes if node.op == "output")
    flat = output_node.args[0]
    specs = {}
    for name, index in LoadedProgram(exported).outputs:
        value = flat[index].meta["val"]
        specs[name] = {
            "dtype": dtype_name(value.dtype),
            "shape": [size if isinstance(size, int) else -1 for size in value.shape],
        }
    return specs


def input_spec(tensor: torch.Tensor, free_dims: Sequence[int] = ()) -> dict[str, Any]:
    """The signature file's entry for one input: dim 0 (and ``free_dims``) -1, the rest fixed.

    >>> input_spec(torch.zeros(2, 4))
    {'dtype': 'float32', 'shape': [-1, 4]}
    """
    shape = [-1 if index == 0 or index in free_dims else size for index, size in enumerate(tensor.shape)]
    return {"dtype": dtype_name(tensor.dtype), "shape": shape}


def _unique(name: str, taken: set[str]) -> str:
    candidate, suffix = name, 1
    while candidate in taken:
        candidate = f"{name}_{suffix}"
        suffix += 1
    taken.add(candidate)
    return candidate
