"""The ``checkpoint`` state file in TF's text format (``CheckpointState`` proto).

A file written here reads in TensorFlow and vice versa::

    model_checkpoint_path: "model.ckpt-10"
    all_model_checkpoint_paths: "model.ckpt-5"
    all_model_checkpoint_paths: "model.ckpt-10"
    all_model_checkpoint_timestamps: 1700000000.5
    all_model_checkpoint_timestamps: 1700000060.25
    last_preserved_timestamp: 1699999999.0

Paths inside the state file's directory are stored as bare names, so a moved model_dir resumes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re

from torch_estimator.checkpoint.atomic import atomic_write_bytes

__all__ = [
    "STATE_FILENAME",
    "CheckpointState",
    "format_checkpoint_state",
    "get_checkpoint_state",
    "parse_checkpoint_state",
    "write_checkpoint_state",
]

STATE_FILENAME = "checkpoint"

logger = logging.getLogger("torch_estimator")


@dataclasses.dataclass
class CheckpointState:
    """The fields of TF's ``CheckpointState``; paths as stored (relative) or resolved (see readers).

    >>> CheckpointState("model.ckpt-1", ["model.ckpt-1"]).all_model_checkpoint_timestamps
    []
    """

    model_checkpoint_path: str = ""
    all_model_checkpoint_paths: list[str] = dataclasses.field(default_factory=list)
    all_model_checkpoint_timestamps: list[float] = dataclasses.field(default_factory=list)
    last_preserved_timestamp: float = 0.0


# -- text format -------------------------------------------------------------------------------

_ESCAPES = {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    ord('"'): '\\"',
    ord("'"): "\\'",
    ord("\\"): "\\\\",
}
_UNESCAPES = {"n": 10, "r": 13, "t": 9, '"': 34, "'": 39, "\\": 92, "a": 7, "b": 8, "f": 12, "v": 11, "?": 63}


def _quote(text: str) -> str:
    """protobuf's CEscape: printable ASCII kept, other bytes of the UTF-8 encoding as octal."""
    parts = []
    for byte in text.encode("utf-8"):
        if byte in _ESCAPES:
            parts.append(_ESCAPES[byte])
        elif 0x20 <= byte < 0x7F:
            parts.append(chr(byte))
        else:
            parts.append(f"\\{byte:03o}")
    return '"' + "".join(parts) + '"'


def _unquote(token: str) -> str:
    body = token[1:-1]
    out = bytearray()
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out += char.encode("utf-8")
            index += 1
            continue
        escape = body[index + 1]
        if escape in _UNESCAPES:
            out.append(_UNESCAPES[escape])
            index += 2
        elif escape in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[index + 1 :]).group(0)  # type: ignore[union-attr]
            out.append(int(digits, 8) & 0xFF)
            index += 1 + len(digits)
        elif escape in "xX":
            digits = re.match(r"[0-9a-fA-F]{1,2}", body[index + 2 :])
            if digits is None:
                raise ValueError(f"Bad \\x escape in {token}.")
            out.append(int(digits.group(0), 16))
            index += 2 + len(digits.group(0))
        else:
            raise ValueError(f"Unknown escape \\{escape} in {token}.")
    return out.decode("utf-8")


def _format_double(value: float) -> str:
    # Python protobuf's text_format prints doubles with str(): shortest round-trip repr.
    return str(float(value))


def format_checkpoint_state(state: CheckpointState) -> str:
    """The state file text for ``state``; empty and zero fields are omitted, as proto3 does.

    >>> print(format_checkpoint_state(CheckpointState("model.ckpt-2", ["model.ckpt-1", "model.ckpt-2"],
    ...                                               [10.0, 20.5], 5.0)), end="")
    model_checkpoint_path: "model.ckpt-2"
    all_model_checkpoint_paths: "model.ckpt-1"
    all_model_checkpoint_paths: "model.ckpt-2"
    all_model_checkpoint_timestamps: 10.0
    all_model_checkpoint_timestamps: 20.5
    last_preserved_timestamp: 5.0
    """
    lines = []
    if state.model_checkpoint_path:
        lines.append(f"model_checkpoint_path: {_quote(state.model_checkpoint_path)}")
    lines.extend(f"all_model_checkpoint_paths: {_quote(path)}" for path in state.all_model_checkpoint_paths)
    lines.extend(
        f"all_model_checkpoint_timestamps: {_format_double(value)}"
        for value in state.all_model_checkpoint_timestamps
    )
    if state.last_preserved_timestamp:
        lines.append(f"last_preserved_timestamp: {_format_double(state.last_preserved_timestamp)}")
    return "".join(line + "\n" for line in lines)


_TOKEN = re.compile(
    r"""\s*(?:\#[^\n]*(?:\n|$)|(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*"""
    r"""(?P<value>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[^\s"'#]+)\s*)"""
)


def _parse_double(key: str, token: str) -> float:
    try:
        return float(token)  # Also reads TF's inf / nan spellings.
    except ValueError:
        raise ValueError(f"{key} needs a number. Received: {token}.") from None


def parse_checkpoint_state(text: str) -> CheckpointState:
    """Parses state file text; unknown fields are ignored, malformed text is a ValueError.

    >>> parse_checkpoint_state('model_checkpoint_path: "/abs/model.ckpt-7"\\n').model_checkpoint_path
    '/abs/model.ckpt-7'
    """
    state = CheckpointState()
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"Malformed checkpoint state text near: {text[position : position + 40]!r}.")
        position = match.end()
        key, token = match.group("key"), match.group("value")
        if key is None:
            continue  # A comment.
        quoted = token[0] in "\"'"
        if key in ("model_checkpoint_path", "all_model_checkpoint_paths"):
            if not quoted:
                raise ValueError(f"{key} needs a quoted string. Received: {token}.")
            if key == "model_checkpoint_path":
                state.model_checkpoint_path = _unquote(token)
            else:
                state.all_model_checkpoint_paths.append(_unquote(token))
        elif key == "all_model_checkpoint_timestamps":
            state.all_model_checkpoint_timestamps.append(_parse_double(key, token))
        elif key == "last_preserved_timestamp":
            state.last_preserved_timestamp = _parse_double(key, token)
    return state


# -- reading and writing in a directory --------------------------------------------------------


def _resolve(directory: str, path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(directory, path)


def get_checkpoint_state(directory: str, latest_filename: str | None = None) -> CheckpointState | None:
    """The state file of ``directory`` with every path joined to ``directory`` (absolute ones kept).

    Returns None when there is no state file; an unreadable or malformed one is logged as a warning
    and also gives None, as TF's ``get_checkpoint_state`` does.

    >>> get_checkpoint_state("/nonexistent-dir") is None
    True
    """
    path = os.path.join(directory, latest_filename or STATE_FILENAME)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        logger.warning("%s: checkpoint state file %s ignored: %s", type(err).__name__, path, err)
        return None
    try:
        state = parse_checkpoint_state(text)
    except ValueError as err:
        logger.warning("checkpoint state file %s ignored: %s", path, err)
        return None
    state.model_checkpoint_path = (
        _resolve(directory, state.model_checkpoint_path) if state.model_checkpoint_path else ""
    )
    state.all_model_checkpoint_paths = [_resolve(directory, p) for p in state.all_model_checkpoint_paths]
    return state


def _stored_path(directory: str, path: str, relative: bool) -> str:
    absolute_dir = os.path.abspath(directory)
    absolute = os.path.abspath(path if os.path.isabs(path) else os.path.join(directory, path))
    if relative and os.path.commonpath([absolute_dir, absolute]) == absolute_dir:
        return os.path.relpath(absolute, absolute_dir)
    return absolute


def write_checkpoint_state(
    directory: str,
    model_checkpoint_path: str,
    all_model_checkpoint_paths: list[str],
    all_model_checkpoint_timestamps: list[float] | None = None,
    last_preserved_timestamp: float = 0.0,
    latest_filename: str | None = None,
    save_relative_paths: bool = True,
) -> CheckpointState:
    """Atomically replaces ``<directory>/checkpoint``; returns the state as stored.

    Relative paths given here are taken relative to ``directory``. ``model_checkpoint_path`` is
    appended to the list when it is not already its last entry (TF's rule).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     stored = write_checkpoint_state(directory, os.path.join(directory, "model.ckpt-3"), [])
    ...     print(stored.all_model_checkpoint_paths, get_checkpoint_state(directory).model_checkpoint_path
    ...           == os.path.join(directory, "model.ckpt-3"))
    ['model.ckpt-3'] True
    """
    paths = list(all_model_checkpoint_paths)
    stamps = list(all_model_checkpoint_timestamps or [])
    if stamps and len(stamps) != len(paths):
        raise ValueError(
            f"all_model_checkpoint_timestamps needs one entry per path. Received {len(stamps)} timestamps "
            f"for {len(paths)} paths."
        )
    if not paths or paths[-1] != model_checkpoint_path:
        paths.append(model_checkpoint_path)
        if stamps:
            stamps.append(stamps[-1])
    state = CheckpointState(
        model_checkpoint_path=_stored_path(directory, model_checkpoint_path, save_relative_paths),
        all_model_checkpoint_paths=[_stored_path(directory, p, save_relative_paths) for p in paths],
        all_model_checkpoint_timestamps=stamps,
        last_preserved_timestamp=last_preserved_timestamp,
    )
    target = os.path.join(directory, latest_filename or STATE_FILENAME)
    atomic_write_bytes(target, format_checkpoint_state(state).encode("utf-8"))
    return state
