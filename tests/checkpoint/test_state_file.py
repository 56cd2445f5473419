"""The ``checkpoint`` state file: TF's text format, relative paths, tolerant reading."""

from __future__ import annotations

import logging
import os

import pytest

from torch_estimator.checkpoint.state_file import (
    CheckpointState,
    format_checkpoint_state,
    get_checkpoint_state,
    parse_checkpoint_state,
    write_checkpoint_state,
)

# What TF's CheckpointManager writes (text_format.MessageToString of CheckpointState, doubles by str()).
TF_TEXT = (
    'model_checkpoint_path: "model.ckpt-200"\n'
    'all_model_checkpoint_paths: "model.ckpt-100"\n'
    'all_model_checkpoint_paths: "model.ckpt-200"\n'
    "all_model_checkpoint_timestamps: 1700000000.25\n"
    "all_model_checkpoint_timestamps: 1700000600.5\n"
    "last_preserved_timestamp: 1699999999.0\n"
)


def test_format_matches_tf_text_exactly():
    state = CheckpointState(
        "model.ckpt-200", ["model.ckpt-100", "model.ckpt-200"], [1700000000.25, 1700000600.5], 1699999999.0
    )
    assert format_checkpoint_state(state) == TF_TEXT


def test_parse_then_format_round_trips():
    assert format_checkpoint_state(parse_checkpoint_state(TF_TEXT)) == TF_TEXT


def test_zero_and_empty_fields_are_omitted_as_proto3_does():
    assert format_checkpoint_state(CheckpointState("model.ckpt-0", ["model.ckpt-0"])) == (
        'model_checkpoint_path: "model.ckpt-0"\nall_model_checkpoint_paths: "model.ckpt-0"\n'
    )


def test_tf_v1_file_with_absolute_paths_and_comments_parses():
    # TF's v1 Saver wrote absolute paths and no timestamps.
    text = (
        "# written by TF\n"
        'model_checkpoint_path: "/old/dir/model.ckpt-7"\n'
        "all_model_checkpoint_paths: '/old/dir/model.ckpt-7'\n"
        "unknown_field: 3\n"
    )
    state = parse_checkpoint_state(text)
    assert state == CheckpointState("/old/dir/model.ckpt-7", ["/old/dir/model.ckpt-7"], [], 0.0)


@pytest.mark.parametrize("path", ['with "quote"', "back\\slash", "tab\tand\nnewline", "unicode_é_路径"])
def test_escaping_round_trips(path):
    text = format_checkpoint_state(CheckpointState(path, [path]))
    assert "\n" not in text.splitlines()[0]
    assert parse_checkpoint_state(text).model_checkpoint_path == path


def test_non_ascii_is_octal_escaped_like_protobuf():
    # "é" is UTF-8 bytes 0xC3 0xA9 = octal 303 251.
    assert format_checkpoint_state(CheckpointState("é")) == 'model_checkpoint_path: "\\303\\251"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('model_checkpoint_path "no colon"', "Malformed"),
        ("model_checkpoint_path: {", "needs a quoted string"),
        ("all_model_checkpoint_timestamps: soon", "needs a number"),
    ],
)
def test_malformed_text_is_a_value_error(text, message):
    with pytest.raises(ValueError, match=message):
        parse_checkpoint_state(text)


def test_get_checkpoint_state_joins_relative_and_keeps_absolute(tmp_path):
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "model.ckpt-2"\n'
        'all_model_checkpoint_paths: "/abs/model.ckpt-1"\n'
        'all_model_checkpoint_paths: "model.ckpt-2"\n'
    )
    state = get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path == os.path.join(str(tmp_path), "model.ckpt-2")
    assert state.all_model_checkpoint_paths == [
        "/abs/model.ckpt-1",
        os.path.join(str(tmp_path), "model.ckpt-2"),
    ]


def test_missing_state_file_is_none(tmp_path):
    assert get_checkpoint_state(str(tmp_path)) is None


def test_malformed_state_file_warns_and_is_none(tmp_path, caplog):
    (tmp_path / "checkpoint").write_text("garbage {{{")
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        assert get_checkpoint_state(str(tmp_path)) is None
    assert "checkpoint state file" in caplog.text


def test_write_stores_bare_names_inside_the_directory(tmp_path):
    directory = str(tmp_path)
    write_checkpoint_state(
        directory,
        os.path.join(directory, "model.ckpt-2"),
        [os.path.join(directory, "model.ckpt-1"), os.path.join(directory, "model.ckpt-2")],
        [1.5, 2.5],
        0.5,
    )
    assert (tmp_path / "checkpoint").read_text() == (
        'model_checkpoint_path: "model.ckpt-2"\n'
        'all_model_checkpoint_paths: "model.ckpt-1"\n'
        'all_model_checkpoint_paths: "model.ckpt-2"\n'
        "all_model_checkpoint_timestamps: 1.5\n"
        "all_model_checkpoint_timestamps: 2.5\n"
        "last_preserved_timestamp: 0.5\n"
    )
    assert os.listdir(directory) == ["checkpoint"]  # no temp file left behind


def test_write_keeps_outside_paths_absolute_and_appends_the_latest(tmp_path):
    outside = str(tmp_path / "elsewhere" / "model.ckpt-1")
    inside = str(tmp_path / "run" / "model.ckpt-2")
    os.makedirs(tmp_path / "run")
    stored = write_checkpoint_state(str(tmp_path / "run"), inside, [outside])
    assert stored.all_model_checkpoint_paths == [outside, "model.ckpt-2"]


def test_write_with_relative_paths_off_stores_absolute(tmp_path):
    stored = write_checkpoint_state(str(tmp_path), "model.ckpt-1", [], save_relative_paths=False)
    assert stored.model_checkpoint_path == str(tmp_path / "model.ckpt-1")


def test_write_rejects_mismatched_timestamps(tmp_path):
    with pytest.raises(ValueError, match="one entry per path"):
        write_checkpoint_state(str(tmp_path), "model.ckpt-1", ["model.ckpt-1"], [1.0, 2.0])
