"""FileWriter, writer_for and the summary protos (histogram buckets, image scaling, text)."""

from __future__ import annotations

import io
import os
import shutil
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

from torch_estimator.summary import FileWriter, clear_writers, summary_iterator, writer_for
from torch_estimator.summary.protos import histogram_proto, image_values, summary_values, text_value


@pytest.fixture(autouse=True)
def _close_event_writers():
    yield
    clear_writers()


def _events(writer):
    writer.flush()
    return [event for event in summary_iterator(writer.file_name) if event.HasField("summary")]


def test_file_writer_writes_every_kind_readable_by_tensorboard(tmp_path):
    writer = FileWriter(str(tmp_path))
    writer.write_summaries(
        7,
        {
            "loss": ("scalar", torch.tensor(0.5)),
            "w": ("histogram", torch.tensor([1.0, 2.0])),
            "img": ("image", torch.zeros(1, 2, 2, 3)),
            "note": ("text", "hello"),
        },
    )
    writer.close()

    assert os.path.basename(writer.file_name).startswith("events.out.tfevents.")
    events = list(LegacyEventFileLoader(writer.file_name).Load())
    assert events[0].file_version == "brain.Event:2"
    (event,) = [event for event in events if event.HasField("summary")]
    assert event.step == 7
    values = {value.tag: value for value in event.summary.value}
    assert sorted(values) == ["img/image", "loss", "note", "w"]
    assert values["loss"].simple_value == 0.5
    assert values["w"].histo.num == 2
    assert values["img/image"].image.colorspace == 3
    assert values["note"].metadata.plugin_data.plugin_name == "text"


def test_write_scalars_reads_tensors_of_any_dtype_and_numbers(tmp_path):
    writer = FileWriter(str(tmp_path))
    writer.write_scalars(
        3,
        {
            "f32": torch.tensor(0.25),
            "bf16": torch.tensor(1.5, dtype=torch.bfloat16),
            "int": torch.tensor(4),
            "one_element": torch.tensor([2.0]),
            "python": 0.75,
            "numpy": np.float64(1.25),
        },
    )
    (event,) = _events(writer)
    assert {value.tag: value.simple_value for value in event.summary.value} == {
        "f32": 0.25,
        "bf16": 1.5,
        "int": 4.0,
        "one_element": 2.0,
        "python": 0.75,
        "numpy": 1.25,
    }


def test_write_text_and_empty_writes(tmp_path):
    writer = FileWriter(str(tmp_path))
    writer.write_scalars(1, {})  # nothing to write: no event
    writer.write_text(2, "checkpoint_path", "/models/model.ckpt-2")
    (event,) = _events(writer)
    assert event.step == 2
    assert event.summary.value[0].tensor.string_val == [b"/models/model.ckpt-2"]
    writer.close()
    writer.close()  # closing twice is fine


def test_histogram_uses_tf_buckets():
    """Values [1, 1, -2] in TF's buckets (limits +-1e-12 * 1.1**k, 0, +-DBL_MAX):

    1.0 falls in (1.1**289e-12, 1.1**290e-12] = (0.91725, 1.00897]; -2.0 in [-2.16282, -1.96620).
    Runs of empty buckets collapse into one entry ending where the run ends, so the proto holds:
    (-2.16282, 0), (-1.96620, 1), (0.91725, 0), (1.00897, 2), (DBL_MAX, 0).
    num 3, min -2, max 1, sum 0, sum of squares 1 + 1 + 4 = 6.
    """
    proto = histogram_proto("w", torch.tensor([1.0, 1.0, -2.0]))
    assert (proto.num, proto.min, proto.max, proto.sum, proto.sum_squares) == (3, -2, 1, 0, 6)
    assert list(proto.bucket) == [0, 1, 0, 2, 0]
    assert list(proto.bucket_limit[:4]) == pytest.approx([-2.16282, -1.96620, 0.91725, 1.00897], rel=1e-5)
    assert proto.bucket_limit[4] == sys.float_info.max


def test_histogram_of_nan_is_an_error():
    with pytest.raises(ValueError, match="Nan in summary histogram for: w"):
        histogram_proto("w", torch.tensor([1.0, float("nan")]))


def _pixels(value):
    return np.asarray(Image.open(io.BytesIO(value.image.encoded_image_string)))


def test_image_scaling_as_tf1():
    """Non-negative floats: the largest becomes 255 ([0, 0.5, 1] -> [0, 127, 255], truncated).
    With negatives: 0 -> 128 and the largest magnitude to 127 away ([-1, 0, 1] -> [1, 128, 255]).
    uint8 is unchanged."""
    positive = torch.tensor([0.0, 0.5, 1.0]).reshape(1, 1, 3, 1)
    signed = torch.tensor([-1.0, 0.0, 1.0]).reshape(1, 1, 3, 1)
    raw = torch.tensor([3, 4, 5], dtype=torch.uint8).reshape(1, 1, 3, 1)
    assert _pixels(image_values("p", positive)[0]).tolist() == [[0, 127, 255]]
    assert _pixels(image_values("s", signed)[0]).tolist() == [[1, 128, 255]]
    assert _pixels(image_values("u", raw)[0]).tolist() == [[3, 4, 5]]


def test_image_non_finite_pixels_are_red_and_tags_number_images():
    images = torch.ones(2, 1, 2, 3)
    images[0, 0, 0, 1] = float("nan")
    values = image_values("x", images)
    assert [value.tag for value in values] == ["x/image/0", "x/image/1"]
    assert _pixels(values[0]).tolist() == [[[255, 0, 0], [255, 255, 255]]]
    rgba = image_values("y", torch.rand(1, 2, 2, 4))[0]
    assert (rgba.tag, rgba.image.colorspace, _pixels(rgba).shape) == ("y/image", 4, (2, 2, 4))


def test_text_keeps_the_shape_of_arrays():
    value = text_value("t", np.array([["a", "b"], ["c", "d"]]))
    assert value.tensor.string_val == [b"a", b"b", b"c", b"d"]
    assert [dim.size for dim in value.tensor.tensor_shape.dim] == [2, 2]


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="Unknown summary kind 'audio' for tag 'a'"):
        summary_values({"a": ("audio", torch.zeros(1))})


def test_writer_for_shares_one_writer_per_directory(tmp_path):
    first = writer_for(str(tmp_path))
    assert writer_for(str(tmp_path) + "/") is first
    assert writer_for(str(tmp_path / "eval")) is not first
    clear_writers()
    assert first.closed
    assert writer_for(str(tmp_path)) is not first


def test_writer_for_replaces_a_writer_whose_directory_was_removed(tmp_path):
    logdir = tmp_path / "model"
    first = writer_for(str(logdir))
    first.write_scalars(1, {"a": 1.0})
    first.flush()
    shutil.rmtree(logdir)
    second = writer_for(str(logdir))
    assert second is not first
    second.write_scalars(2, {"a": 2.0})
    assert [event.step for event in _events(second)] == [2]
