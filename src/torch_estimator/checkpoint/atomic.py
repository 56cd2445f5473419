"""Crash-safe file writes: temp name in the same directory, fsync, rename, fsync the directory."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import zlib
from collections.abc import Callable, Iterator

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "crc32_of_file",
    "fsync_directory",
    "is_temp_file",
    "remove_stale_temp_files",
    "temp_path_for",
]

# <final name>.tmp-<pid>-<hex>: the pid lets a later writer tell a dead writer's leftovers from a live one's.
_TEMP_PATTERN = re.compile(r"^(?P<final>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]+$")
_CHUNK_BYTES = 16 * 1024 * 1024


def temp_path_for(path: str) -> str:
    """A fresh temp name beside ``path``, owned by this process.

    >>> temp_path_for("/d/checkpoint").startswith(f"/d/checkpoint.tmp-{os.getpid()}-")
    True
    """
    return f"{path}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def is_temp_file(name: str) -> bool:
    """Whether the file name ``name`` is a temp file written by :func:`atomic_write`.

    >>> is_temp_file("model.ckpt-3.json.tmp-12-ab01"), is_temp_file("model.ckpt-3.json")
    (True, False)
    """
    return _TEMP_PATTERN.match(os.path.basename(name)) is not None


def fsync_directory(directory: str) -> None:
    """Makes a rename inside ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # Some filesystems refuse fsync on directories; the rename itself is still atomic.
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str, sync_directory: bool = True) -> Iterator[str]:
    """Yields a temp path to write; on success it is fsynced and renamed to ``path``.

    On an exception the temp file is removed and ``path`` is untouched. A process killed mid-write
    leaves only the temp file, which :func:`remove_stale_temp_files` deletes later.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     target = os.path.join(directory, "x.txt")
    ...     with atomic_write(target) as temp:
    ...         with open(temp, "w") as f:
    ...             _ = f.write("hello")
    ...     with open(target) as f:
    ...         print(f.read(), os.listdir(directory))
    hello ['x.txt']
    """
    temp = temp_path_for(path)
    try:
        yield temp
        _fsync_file(temp)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
    if sync_directory:
        fsync_directory(os.path.dirname(path))


def atomic_write_bytes(path: str, data: bytes, sync_directory: bool = True) -> None:
    """Writes ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, sync_directory) as temp, open(temp, "wb") as f:
        f.write(data)


def crc32_of_file(path: str) -> tuple[int, int]:
    """``(size in bytes, zlib.crc32)`` of a file, read in chunks."""
    crc = 0
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return size, crc


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # Exists but belongs to someone else.
    return True


def remove_stale_temp_files(directory: str, final_names: Callable[[str], bool]) -> list[str]:
    """Deletes temp files in ``directory`` left by dead writers; returns the names removed.

    Only temp files whose final name satisfies ``final_names`` are considered, and only those whose
    writer pid is no longer running, so a live writer's file is never pulled from under it.
    """
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        match = _TEMP_PATTERN.match(name)
        if match is None or not final_names(match.group("final")):
            continue
        if _process_alive(int(match.group("pid"))):
            continue
        with contextlib.suppress(OSError):
            os.remove(os.path.join(directory, name))
            removed.append(name)
    return removed
