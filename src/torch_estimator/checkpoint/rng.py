"""Random number generator state of torch (CPU and CUDA), numpy's global RNG and Python's ``random``."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import numpy as np
import torch

__all__ = [
    "RNG_TENSOR_PREFIX",
    "RngState",
    "capture_rng_state",
    "restore_rng_state",
    "rng_state_from_checkpoint",
    "rng_state_to_checkpoint",
]

# Checkpoint tensor names for torch generator states; no te variable name starts with "__".
RNG_TENSOR_PREFIX = "__rng__/"


@dataclasses.dataclass
class RngState:
    """A snapshot of every global random generator a model_fn or input_fn may draw from.

    ``torch_cpu`` and ``torch_cuda`` are uint8 tensors (``torch.get_rng_state()``); ``numpy`` and
    ``python`` are JSON-ready dicts (None when not captured).
    """

    torch_cpu: torch.Tensor
    torch_cuda: list[torch.Tensor] = dataclasses.field(default_factory=list)
    numpy: dict[str, Any] | None = None
    python: dict[str, Any] | None = None


def capture_rng_state() -> RngState:
    """The current state of torch, CUDA (only when already initialised), numpy and ``random``.

    >>> state = capture_rng_state(); first = torch.rand(2)
    >>> restore_rng_state(state); bool(torch.equal(first, torch.rand(2)))
    True
    """
    cuda: list[torch.Tensor] = []
    # Reading CUDA state would initialise CUDA in a process that never used it; skip it then.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = [state.cpu() for state in torch.cuda.get_rng_state_all()]
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)  # type: ignore[misc]
    version, internal, gauss_next = random.getstate()
    return RngState(
        torch_cpu=torch.get_rng_state(),
        torch_cuda=cuda,
        numpy={
            "bit_generator": str(name),
            "keys": [int(key) for key in keys],
            "pos": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        python={"version": version, "internal": list(internal), "gauss_next": gauss_next},
    )


def restore_rng_state(state: RngState) -> None:
    """Sets every generator captured in ``state``; CUDA states beyond this host's devices are skipped."""
    torch.set_rng_state(state.torch_cpu.to(dtype=torch.uint8, device="cpu"))
    if state.torch_cuda and torch.cuda.is_available():
        for index, cuda_state in enumerate(state.torch_cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state.to(dtype=torch.uint8, device="cpu"), index)
    if state.numpy is not None:
        np.random.set_state(
            (
                state.numpy["bit_generator"],
                np.asarray(state.numpy["keys"], dtype=np.uint32),
                state.numpy["pos"],
                state.numpy["has_gauss"],
                state.numpy["cached_gaussian"],
            )
        )
    if state.python is not None:
        python = state.python
        random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))


def rng_state_to_checkpoint(state: RngState) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Splits ``state`` into checkpoint tensors and the JSON entry that names them.

    >>> tensors, entry = rng_state_to_checkpoint(capture_rng_state())
    >>> sorted(tensors) == ["__rng__/torch_cpu"], entry["torch_cpu"]
    (True, '__rng__/torch_cpu')
    """
    tensors = {f"{RNG_TENSOR_PREFIX}torch_cpu": state.torch_cpu.to(dtype=torch.uint8, device="cpu")}
    cuda_names = []
    for index, cuda_state in enumerate(state.torch_cuda):
        name = f"{RNG_TENSOR_PREFIX}torch_cuda_{index}"
        tensors[name] = cuda_state.to(dtype=torch.uint8, device="cpu")
        cuda_names.append(name)
    entry = {
        "torch_cpu": f"{RNG_TENSOR_PREFIX}torch_cpu",
        "torch_cuda": cuda_names,
        "numpy": state.numpy,
        "python": state.python,
    }
    return tensors, entry


def rng_state_from_checkpoint(tensors: dict[str, torch.Tensor], entry: dict[str, Any]) -> RngState:
    """Rebuilds the RngState written by :func:`rng_state_to_checkpoint`.

    Raises:
        KeyError: a tensor named in ``entry`` is not in ``tensors``.
    """
    return RngState(
        torch_cpu=tensors[entry["torch_cpu"]],
        torch_cuda=[tensors[name] for name in entry.get("torch_cuda", [])],
        numpy=entry.get("numpy"),
        python=entry.get("python"),
    )
