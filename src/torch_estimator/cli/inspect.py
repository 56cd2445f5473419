"""``torch-estimator inspect PATH``: a checkpoint's variables or an export's signatures.

Like TF's ``inspect_checkpoint`` (one ``name (DT_FLOAT) [shape]`` line per variable) and
``saved_model_cli show --all`` (each signature's inputs, outputs and method).
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

import torch

from torch_estimator import saved_model
from torch_estimator.checkpoint import list_variables
from torch_estimator.serving.tensors import tf_dtype_name

__all__ = ["describe_checkpoint", "describe_export", "run_inspect"]


def _dtype(name: str) -> str:
    found = getattr(torch, name, None)
    return tf_dtype_name(found) if isinstance(found, torch.dtype) else name


def describe_checkpoint(path: str) -> str:
    """``name (DT_...) [shape]`` per variable of a checkpoint (a model_dir or a ``model.ckpt-N`` prefix).

    >>> import tempfile
    >>> from torch_estimator.checkpoint import write_checkpoint
    >>> with tempfile.TemporaryDirectory() as model_dir:
    ...     _ = write_checkpoint(os.path.join(model_dir, "model.ckpt-1"), {"dense/kernel": torch.zeros(4, 2)})
    ...     print(describe_checkpoint(os.path.join(model_dir, "model.ckpt-1")))
    dense/kernel (DT_FLOAT) [4,2]
    """
    return "\n".join(
        f"{name} ({_dtype(dtype)}) [{','.join(str(dim) for dim in shape)}]"
        for name, shape, dtype in list_variables(path)
    )


def _tensor_lines(kind: str, specs: dict[str, Any]) -> list[str]:
    lines = [f"  The given SavedModel SignatureDef contains the following {kind}(s):"]
    for name, spec in specs.items():
        shape = ", ".join("-1" if dim is None else str(dim) for dim in spec.shape)
        shape = f"({shape},)" if len(spec.shape) == 1 else f"({shape})"
        lines += [
            f"    {kind}s['{name}'] tensor_info:",
            f"        dtype: {tf_dtype_name(spec.dtype)}",
            f"        shape: {shape}",
            f"        name: {name}",
        ]
    return lines


def describe_export(path: str) -> str:
    """An export's signatures as ``saved_model_cli show --all`` prints them."""
    loaded = saved_model.load(path)
    lines = [
        f"Export {os.path.abspath(path)} (global_step {loaded.global_step}).",
        "",
        "MetaGraphDef with tag-set: 'serve' contains the following SignatureDefs:",
    ]
    for name, signature in loaded.signatures.items():
        lines += ["", f"signature_def['{name}']:"]
        lines += _tensor_lines("input", signature.inputs)
        lines += _tensor_lines("output", signature.outputs)
        lines.append(f"  Method name is: {signature.method_name}")
        if signature.class_names is not None:
            lines.append(f"  Class names: {list(signature.class_names)}")
        if signature.feature_spec:
            lines.append("  Parses tf.Example features:")
            lines += [f"    {feature}: {spec}" for feature, spec in signature.feature_spec.items()]
    return "\n".join(lines)


def run_inspect(path: str, out: TextIO | None = None) -> int:
    """Prints what ``path`` holds: an export's signatures (for a directory of numeric export versions,
    the newest), or a checkpoint's variables. Returns the exit status (1: neither found)."""
    out = out or sys.stdout
    if os.path.isdir(path) and not saved_model.is_export_dir(path):
        versions = saved_model.list_versions(path)
        if versions:
            print(f"{path} holds export versions {versions}; showing the newest, {versions[-1]}.", file=out)
            path = os.path.join(path, str(versions[-1]))
    if saved_model.is_export_dir(path):
        print(describe_export(path), file=out)
        return 0
    try:
        print(describe_checkpoint(path), file=out)
    except (OSError, ValueError) as err:
        print(
            f"{path} is neither an export directory (no saved_model.json) nor a checkpoint: {err}",
            file=sys.stderr,
        )
        return 1
    return 0
