"""read_eval_metrics and summary_iterator: ordering, merging, missing dirs, corrupted tails."""

from __future__ import annotations

import logging

import pytest

from torch_estimator.summary import FileWriter, clear_writers, read_eval_metrics, summary_iterator


@pytest.fixture(autouse=True)
def _close_event_writers():
    yield
    clear_writers()


def test_read_eval_metrics_sorts_steps_and_merges_events_of_a_step(tmp_path):
    first = FileWriter(str(tmp_path))
    first.write_scalars(20, {"accuracy": 0.75})
    first.write_scalars(10, {"accuracy": 0.5, "loss": 1.0})
    first.write_text(20, "checkpoint_path", "model.ckpt-20")  # not a simple value: ignored
    first.close()
    second = FileWriter(str(tmp_path))
    second.write_scalars(10, {"auc": 0.25})
    second.close()
    (tmp_path / "notes.txt").write_text("not an event file")

    metrics = read_eval_metrics(str(tmp_path))

    assert list(metrics.items()) == [
        (10, {"accuracy": 0.5, "loss": 1.0, "auc": 0.25}),
        (20, {"accuracy": 0.75}),
    ]


def test_read_eval_metrics_of_a_missing_dir_is_empty(tmp_path):
    assert read_eval_metrics(str(tmp_path / "eval")) == {}


def test_a_truncated_tail_is_skipped_with_a_warning(tmp_path, caplog):
    writer = FileWriter(str(tmp_path))
    writer.write_scalars(1, {"loss": 2.0})
    writer.write_scalars(2, {"loss": 1.0})
    writer.close()
    with open(writer.file_name, "ab") as event_file:
        event_file.write(b"\x20\x00\x00")  # the start of a record header, cut off

    metrics = read_eval_metrics(str(tmp_path))

    assert list(metrics.items()) == [(1, {"loss": 2.0}), (2, {"loss": 1.0})]
    (warning,) = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert "Ignoring data corruption error" in warning.getMessage()
    assert writer.file_name in warning.getMessage()


def test_a_corrupted_record_ends_the_file(tmp_path, caplog):
    """Flipping a byte inside the last record breaks its CRC: the events before it are kept."""
    writer = FileWriter(str(tmp_path))
    writer.write_scalars(1, {"loss": 2.0})
    writer.write_scalars(2, {"loss": 1.0})
    writer.close()
    with open(writer.file_name, "r+b") as event_file:
        data = bytearray(event_file.read())
        data[-6] ^= 0xFF
        event_file.seek(0)
        event_file.write(bytes(data))

    steps = [event.step for event in summary_iterator(writer.file_name) if event.HasField("summary")]

    assert steps == [1]
    assert any("Ignoring data corruption error" in record.getMessage() for record in caplog.records)
