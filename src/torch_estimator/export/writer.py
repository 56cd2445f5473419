"""Writes an export directory crash-safely: a temp directory beside it, fsynced, then renamed.

A reader never sees a half-written export under a timestamp name: until the rename the files live
in ``<export_dir_base>/temp-<timestamp>-<random>``, which is removed if anything fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from safetensors.torch import save_file

from torch_estimator.checkpoint.atomic import fsync_directory
from torch_estimator.saved_model.format import (
    ASSETS_DIRECTORY,
    ASSETS_EXTRA_DIRECTORY,
    PROGRAMS_DIRECTORY,
    SIGNATURE_FILENAME,
    VARIABLES_DIRECTORY,
    VARIABLES_FILENAME,
)

__all__ = [
    "MAX_DIRECTORY_CREATION_ATTEMPTS",
    "export_directory",
    "timestamped_export_dir",
    "write_assets",
    "write_assets_extra",
    "write_metadata",
    "write_programs",
    "write_variables",
]

MAX_DIRECTORY_CREATION_ATTEMPTS = 10


def timestamped_export_dir(
    export_dir_base: str,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """``export_dir_base/<int(clock())>``; if that exists, waits a second and tries again (TF's rule).

    Raises:
        RuntimeError: ten attempts found the name taken.

    >>> timestamped_export_dir("/base", clock=lambda: 1700000000.5)
    '/base/1700000000'
    """
    for _ in range(MAX_DIRECTORY_CREATION_ATTEMPTS):
        export_dir = os.path.join(export_dir_base, str(int(clock())))
        if not os.path.exists(export_dir):
            return export_dir
        sleep(1)
    raise RuntimeError(
        f"Failed to obtain a unique export directory name after {MAX_DIRECTORY_CREATION_ATTEMPTS} attempts "
        f"in {export_dir_base}. Another exporter is writing there every second; wait or use another base."
    )


@contextlib.contextmanager
def export_directory(
    export_dir_base: str,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[tuple[str, list[str]]]:
    """Yields ``(temp_dir, final)``: write into ``temp_dir``; on success it becomes ``final[0]``.

    On an exception the temp directory is removed and nothing else under ``export_dir_base`` changes.
    """
    export_dir = timestamped_export_dir(export_dir_base, clock, sleep)
    os.makedirs(export_dir_base, exist_ok=True)
    temp_dir = os.path.join(export_dir_base, f"temp-{os.path.basename(export_dir)}-{secrets.token_hex(4)}")
    os.makedirs(temp_dir)
    final = [export_dir]
    try:
        yield temp_dir, final
        _fsync_tree(temp_dir)
        # Another exporter may have taken the name meanwhile: take the next free one.
        while True:
            try:
                if os.path.exists(final[0]):
                    raise FileExistsError(final[0])
                os.rename(temp_dir, final[0])
                break
            except FileExistsError:
                final[0] = timestamped_export_dir(export_dir_base, clock, sleep)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    fsync_directory(export_dir_base)


def write_programs(directory: str, programs: Mapping[str, torch.export.ExportedProgram]) -> None:
    """``programs/<file name>`` for each ``{file name: program}`` (one program object may repeat)."""
    os.makedirs(os.path.join(directory, PROGRAMS_DIRECTORY))
    written: dict[int, str] = {}
    for filename, program in programs.items():
        path = os.path.join(directory, PROGRAMS_DIRECTORY, filename)
        if id(program) in written:
            shutil.copyfile(written[id(program)], path)
        else:
            torch.export.save(program, path)
            written[id(program)] = path


def write_variables(directory: str, tensors: Mapping[str, torch.Tensor], global_step: int) -> None:
    """``variables/variables.safetensors``: the exported variable values by name."""
    os.makedirs(os.path.join(directory, VARIABLES_DIRECTORY))
    # safetensors refuses shared or strided storage: each value gets its own contiguous copy.
    owned = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in tensors.items()}
    save_file(
        owned,
        os.path.join(directory, VARIABLES_DIRECTORY, VARIABLES_FILENAME),
        metadata={"global_step": str(global_step)},
    )


def write_assets(directory: str, asset_paths: Sequence[str]) -> None:
    """``assets/<file name>`` for each registered asset file (the directory exists even when empty).

    Raises:
        ValueError: two assets share a file name.
    """
    target = os.path.join(directory, ASSETS_DIRECTORY)
    os.makedirs(target)
    for source in asset_paths:
        destination = os.path.join(target, os.path.basename(source))
        if os.path.exists(destination):
            raise ValueError(
                f"Two asset files are named {os.path.basename(source)!r} (one is {source}); assets are "
                "copied flat into assets/, so give them distinct file names."
            )
        shutil.copyfile(source, destination)


def write_assets_extra(directory: str, assets_extra: Mapping[str, Any] | None) -> None:
    """Copies each ``{destination relative path: source path}`` to ``assets.extra/<destination>``.

    Raises:
        ValueError: a destination is absolute or leaves ``assets.extra``.
    """
    if not assets_extra:
        return
    root = os.path.join(directory, ASSETS_EXTRA_DIRECTORY)
    for relative, source in assets_extra.items():
        destination = os.path.normpath(os.path.join(root, os.fspath(relative)))
        if os.path.isabs(os.fspath(relative)) or not destination.startswith(root + os.sep):
            raise ValueError(
                f"assets_extra destination {relative!r} must be a relative path inside assets.extra/. "
                "Pass {'relative/name': source_path}."
            )
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copyfile(os.fspath(source), destination)


def write_metadata(directory: str, metadata: Mapping[str, Any]) -> None:
    """``saved_model.json``, written last so a finished temp directory is recognisable."""
    with open(os.path.join(directory, SIGNATURE_FILENAME), "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=2)
        f.write("\n")


def _fsync_tree(root: str) -> None:
    for current, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(current, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_directory(current)
