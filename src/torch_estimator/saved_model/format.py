"""The export format's names in one place: files, the signature file's keys, dtype spellings.

An export directory ``<export_dir_base>/<10-digit timestamp>/`` holds::

    saved_model.json                    the signature file (format, global_step, signatures)
    programs/<signature file name>.pt2  one torch.export program per signature
    variables/variables.safetensors     the exported variables (for inspection)
    assets/                             asset files registered while exporting
    assets.extra/                       files copied from ``assets_extra``

This module imports only the standard library and torch: the loader and the exporter share it.
"""

from __future__ import annotations

import re

import torch

__all__ = [
    "ASSETS_DIRECTORY",
    "ASSETS_EXTRA_DIRECTORY",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PROGRAMS_DIRECTORY",
    "SIGNATURE_FILENAME",
    "VARIABLES_DIRECTORY",
    "VARIABLES_FILENAME",
    "dtype_from_name",
    "dtype_name",
    "program_filename",
]

FORMAT_NAME = "torch-estimator-saved-model"
# 2: each signature has "output_vocabularies" {output name: vocabulary list | null (= str(id))}.
FORMAT_VERSION = 2
SIGNATURE_FILENAME = "saved_model.json"
PROGRAMS_DIRECTORY = "programs"
VARIABLES_DIRECTORY = "variables"
VARIABLES_FILENAME = "variables.safetensors"
ASSETS_DIRECTORY = "assets"
ASSETS_EXTRA_DIRECTORY = "assets.extra"

_UNSAFE_FILENAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]")


def dtype_name(dtype: torch.dtype) -> str:
    """The signature file's spelling of a dtype: its torch name without ``torch.``.

    >>> dtype_name(torch.float32), dtype_name(torch.int64)
    ('float32', 'int64')
    """
    return str(dtype).removeprefix("torch.")


def dtype_from_name(name: str) -> torch.dtype:
    """The torch dtype spelled ``name`` in a signature file.

    Raises:
        ValueError: ``name`` is not a torch dtype.

    >>> dtype_from_name("bfloat16")
    torch.bfloat16
    """
    found = getattr(torch, name, None) if isinstance(name, str) else None
    if not isinstance(found, torch.dtype):
        raise ValueError(f"Unknown dtype {name!r} in the signature file. Expected a torch dtype name.")
    return found


def program_filename(signature_name: str) -> str:
    """``<name>.pt2`` with characters outside ``[A-Za-z0-9_.-]`` replaced by ``_``.

    >>> program_filename("alt:serving_default")
    'alt_serving_default.pt2'
    """
    return _UNSAFE_FILENAME_CHARACTERS.sub("_", signature_name) + ".pt2"
