"""``te.saved_model.load``: an export's signatures as callables, with torch only (never the model's code)."""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Mapping
from typing import Any

import torch

from torch_estimator.saved_model.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SIGNATURE_FILENAME,
    dtype_from_name,
)
from torch_estimator.saved_model.program import LoadedProgram, load_program
from torch_estimator.saved_model.vocabulary import name_class_ids, read_output_vocabularies

__all__ = ["SavedModel", "Signature", "TensorSpec", "is_export_dir", "list_versions", "load"]


class TensorSpec(collections.namedtuple("TensorSpec", ["dtype", "shape"])):
    """The dtype and shape of a signature input or output; ``None`` marks a dynamic dimension.

    >>> TensorSpec(torch.float32, (None, 4))
    TensorSpec(dtype=torch.float32, shape=(None, 4))
    """

    __slots__ = ()
    dtype: torch.dtype
    shape: tuple[int | None, ...]


class Signature:
    """One callable signature of an export: ``signature(**tensors) -> dict[str, Tensor | ndarray]``.

    Inputs are checked by name, dtype, rank and fixed dimensions, and must share one batch size
    (dim 0); a ``ValueError`` names the input, what was given and what was expected. Outputs listed in
    ``output_vocabularies`` (a classifier's ``classes`` / ``all_classes`` in its predict signature) come
    back as numpy object arrays of bytes names, as ``Estimator.predict()`` yields them; ``run`` returns
    every output as the program's tensors (class ids unnamed).
    """

    def __init__(self, name: str, entry: Mapping[str, Any], program: LoadedProgram) -> None:
        self.name = name
        self.method_name: str = entry["method_name"]
        self.mode: str | None = entry.get("mode")
        self.inputs = _specs(entry["inputs"])
        self.outputs = _specs(entry["outputs"])
        self.class_names: list[str] | None = entry.get("class_names")
        self.feature_spec: dict[str, Any] | None = entry.get("feature_spec")
        self.output_vocabularies = read_output_vocabularies(name, entry)
        self.program = program
        if set(program.input_names) != set(self.inputs):
            raise ValueError(
                f"Signature {name!r} lists inputs {sorted(self.inputs)} but its program takes "
                f"{sorted(program.input_names)}; the export is inconsistent. Export the model again."
            )
        # (name, dtype, rank, fixed trailing dims as (index, size)), in the program's argument order.
        self._checks = tuple(
            (
                input_name,
                self.inputs[input_name].dtype,
                len(self.inputs[input_name].shape),
                tuple(
                    (index, size)
                    for index, size in enumerate(self.inputs[input_name].shape)
                    if index > 0 and size is not None
                ),
            )
            for input_name in program.input_names
        )
        self._input_names = frozenset(self.inputs)

    def __call__(self, **tensors: torch.Tensor) -> dict[str, Any]:
        outputs: dict[str, Any] = self.run(tensors)
        for name, vocabulary in self.output_vocabularies.items():
            outputs[name] = name_class_ids(outputs[name], vocabulary)
        return outputs

    def run(self, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The program's outputs for ``tensors`` (by input name), class ids left as int64 tensors."""
        if tensors.keys() != self._input_names:
            self._raise_names(tensors)
        ordered = []
        batch = None
        for name, dtype, rank, fixed in self._checks:
            tensor = tensors[name]
            if not isinstance(tensor, torch.Tensor) or tensor.dtype != dtype:
                self._raise_input(name, tensor, "dtype")
            shape = tensor.shape
            if len(shape) != rank:
                self._raise_input(name, tensor, "rank")
            for index, size in fixed:
                if shape[index] != size:
                    self._raise_input(name, tensor, "shape")
            if batch is None:
                batch = shape[0]
            elif shape[0] != batch:
                raise ValueError(
                    f"Signature {self.name!r}: every input needs the same batch size (dim 0). Input {name!r} "
                    f"has {shape[0]} rows, an earlier input has {batch}."
                )
            ordered.append(tensor)
        return self.program(ordered)

    def _raise_names(self, tensors: Mapping[str, Any]) -> None:
        missing = sorted(self._input_names - tensors.keys())
        unexpected = sorted(tensors.keys() - self._input_names)
        raise ValueError(
            f"Signature {self.name!r} takes inputs {sorted(self._input_names)}. Missing: {missing}; "
            f"unexpected: {unexpected}. Pass every input by name, e.g. signature(**inputs)."
        )

    def _raise_input(self, name: str, tensor: Any, problem: str) -> None:
        expected = self.inputs[name]
        wanted = "(" + ", ".join("batch" if size is None else str(size) for size in expected.shape) + ")"
        if not isinstance(tensor, torch.Tensor):
            received = f"a {type(tensor).__name__}"
        else:
            received = f"a {tensor.dtype} tensor of shape {tuple(tensor.shape)}"
        raise ValueError(
            f"Signature {self.name!r} input {name!r} has the wrong {problem}: received {received}, "
            f"expected a {expected.dtype} tensor of shape {wanted} (dim 0 is the batch; None dims are free)."
        )

    def __repr__(self) -> str:
        return (
            f"Signature(name={self.name!r}, method_name={self.method_name!r}, inputs={sorted(self.inputs)})"
        )


class SavedModel:
    """A loaded export: its metadata and its signatures by name."""

    def __init__(self, path: str, metadata: dict[str, Any], signatures: dict[str, Signature]) -> None:
        self.path = path
        self.metadata = metadata
        self.global_step: int | None = metadata.get("global_step")
        self.default_signature: str | None = metadata.get("default_signature")
        self.signatures = signatures

    def __repr__(self) -> str:
        return f"SavedModel(path={self.path!r}, signatures={sorted(self.signatures)})"


def load(path: str | os.PathLike[str]) -> SavedModel:
    """Loads the export in ``path`` (one timestamp directory) with torch only.

    Raises:
        ValueError: ``path`` holds no export, or one written in an unknown format version.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as empty:
    ...     load(empty)
    Traceback (most recent call last):
    ...
    ValueError: No export found in ...: saved_model.json is missing. ...
    """
    path = os.fspath(path)
    metadata = read_metadata(path)
    signatures = {
        name: Signature(name, entry, load_program(os.path.join(path, entry["program"])))
        for name, entry in metadata["signatures"].items()
    }
    return SavedModel(path, metadata, signatures)


def read_metadata(path: str) -> dict[str, Any]:
    """The parsed signature file of the export in ``path``, with its format checked."""
    file = os.path.join(path, SIGNATURE_FILENAME)
    if not os.path.isfile(file):
        raise ValueError(
            f"No export found in {path}: {SIGNATURE_FILENAME} is missing. Pass one timestamp directory "
            "written by Estimator.export_saved_model (see te.saved_model.list_versions)."
        )
    with open(file, encoding="utf-8") as f:
        metadata = json.load(f)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise ValueError(f"{file} is not a torch-estimator export (format {FORMAT_NAME!r} expected).")
    version = metadata.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{file} has format_version {version!r}; this torch-estimator reads versions up to "
            f"{FORMAT_VERSION}. Upgrade torch-estimator to load it."
        )
    return metadata


def is_export_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a finished export directory (it has the signature file).

    >>> is_export_dir("/nonexistent")
    False
    """
    return os.path.isfile(os.path.join(os.fspath(path), SIGNATURE_FILENAME))


def list_versions(base: str | os.PathLike[str]) -> list[int]:
    """The numeric export directories under ``base`` (TF Serving's versions), oldest first.

    Temp directories of exports in progress are never listed.

    >>> list_versions("/nonexistent")
    []
    """
    base = os.fspath(base)
    try:
        names = os.listdir(base)
    except OSError:
        return []
    return sorted(
        int(name)
        for name in names
        if name.isascii() and name.isdigit() and is_export_dir(os.path.join(base, name))
    )


def _specs(entries: Mapping[str, Any]) -> dict[str, TensorSpec]:
    return {
        name: TensorSpec(
            dtype_from_name(entry["dtype"]),
            tuple(None if size is None or size < 0 else int(size) for size in entry["shape"]),
        )
        for name, entry in entries.items()
    }
