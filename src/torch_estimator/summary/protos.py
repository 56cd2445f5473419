"""Recorded summary values -> TensorBoard ``Summary.Value`` protos, as TF 1's summary ops made them.

This is the only place where summary tensors become Python / numpy values: it runs when a hook or
the evaluator writes, never per step.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

from torch_estimator.contract.convert import to_numpy

__all__ = [
    "SUMMARY_KINDS",
    "histogram_proto",
    "image_values",
    "scalar_values",
    "summary_values",
    "text_value",
]

SUMMARY_KINDS = ("scalar", "histogram", "image", "text")

_DBL_MAX = float(np.finfo(np.float64).max)
# TF draws non-finite pixels of float images in this colour (the first C channels of it).
_BAD_COLOR = (255, 0, 0, 255)


def scalar_values(scalars: Mapping[str, Any]) -> list[summary_pb2.Summary.Value]:
    """``simple_value`` entries for ``tag -> 0-d tensor or number``.

    Tensors on one device are read with a single transfer (one device sync for all of them).

    >>> [(v.tag, v.simple_value) for v in scalar_values({"loss": torch.tensor(0.5), "lr": 0.25})]
    [('loss', 0.5), ('lr', 0.25)]
    """
    tags = list(scalars)
    values = [scalars[tag] for tag in tags]
    floats = _to_floats(values)
    return [
        summary_pb2.Summary.Value(tag=tag, simple_value=value)
        for tag, value in zip(tags, floats, strict=True)
    ]


def _to_floats(values: list[Any]) -> list[float]:
    tensors = [value for value in values if isinstance(value, torch.Tensor)]
    converted: dict[int, float] = {}
    if tensors and len({tensor.device for tensor in tensors}) == 1:
        stacked = torch.stack([tensor.detach().reshape(()).to(torch.float64) for tensor in tensors])
        converted = {id(tensor): item for tensor, item in zip(tensors, stacked.cpu().tolist(), strict=True)}
    floats = []
    for value in values:
        if id(value) in converted:
            floats.append(converted[id(value)])
        elif isinstance(value, torch.Tensor):
            floats.append(float(value.detach().reshape(()).to(torch.float64)))
        else:
            floats.append(float(np.asarray(value).reshape(())))
    return floats


@functools.cache
def _tf_bucket_limits() -> np.ndarray:
    # TF's default histogram buckets (histogram.cc): +-1e-12 growing by 1.1 up to 1e20, then +-DBL_MAX.
    positive = []
    value = 1.0e-12
    while value < 1.0e20:
        positive.append(value)
        value *= 1.1
    positive.append(_DBL_MAX)
    negative = [-limit for limit in reversed(positive)]
    return np.array([*negative, 0.0, *positive], dtype=np.float64)


def histogram_proto(tag: str, values: Any) -> summary_pb2.HistogramProto:
    """TF's histogram of ``values``: exponential buckets, runs of empty buckets collapsed into one.

    Raises:
        ValueError: ``values`` holds a NaN (TF: "Nan in summary histogram for: <tag>").

    >>> proto = histogram_proto("w", torch.tensor([1.0, 1.0, -2.0]))
    >>> proto.num, proto.min, proto.max, proto.sum, sum(proto.bucket)
    (3.0, -2.0, 1.0, 0.0, 3.0)
    """
    array = _to_numpy(values).astype(np.float64).reshape(-1)
    if np.isnan(array).any():
        raise ValueError(
            f"Nan in summary histogram for: {tag}. The values given to te.summary.histogram({tag!r}, ...) "
            "contain NaN; check the model for divergence."
        )
    limits = _tf_bucket_limits()
    # Bucket i counts values in [limits[i-1], limits[i]), as TF's upper_bound lookup.
    index = np.minimum(np.searchsorted(limits, array, side="right"), len(limits) - 1)
    counts = np.bincount(index, minlength=len(limits)).astype(np.float64)
    # Keep every non-empty bucket and the last bucket of each run of empty ones (TF's encoding).
    following_nonempty = np.append(counts[1:] > 0, True)
    keep = (counts > 0) | following_nonempty
    return summary_pb2.HistogramProto(
        min=float(array.min()) if array.size else _DBL_MAX,
        max=float(array.max()) if array.size else -_DBL_MAX,
        num=float(array.size),
        sum=float(array.sum()),
        sum_squares=float(np.dot(array, array)),
        bucket_limit=limits[keep].tolist(),
        bucket=counts[keep].tolist(),
    )


def image_values(tag: str, images: Any) -> list[summary_pb2.Summary.Value]:
    """One PNG per image of an NHWC batch; tags ``<tag>/image`` (one image) or ``<tag>/image/<i>``.

    uint8 pixels are written as they are. Float images are scaled per image as TF 1 did: all
    values non-negative -> the largest becomes 255 (so [0, 1] maps to [0, 255]); any negative ->
    0.0 maps to 128 and the largest magnitude to 0 or 255. Non-finite pixels are drawn red.

    >>> [value.tag for value in image_values("x", torch.zeros(2, 4, 4, 3))]
    ['x/image/0', 'x/image/1']
    """
    batch = _to_numpy(images)
    values = []
    for index, image in enumerate(batch):
        pixels = image if image.dtype == np.uint8 else _float_to_uint8(image.astype(np.float32))
        height, width, channels = pixels.shape
        image_tag = f"{tag}/image" if len(batch) == 1 else f"{tag}/image/{index}"
        encoded = summary_pb2.Summary.Image(
            height=height, width=width, colorspace=channels, encoded_image_string=_png(pixels)
        )
        values.append(summary_pb2.Summary.Value(tag=image_tag, image=encoded))
    return values


def _float_to_uint8(image: np.ndarray) -> np.ndarray:
    finite = np.isfinite(image)
    seen = image[finite]
    low = float(seen.min()) if seen.size else 0.0
    high = float(seen.max()) if seen.size else 0.0
    if low < 0:
        largest = max(abs(low), abs(high))
        scale, offset = (0.0 if largest < 1e-6 else 127.0 / largest), 128.0
    else:
        scale, offset = (0.0 if high < 1e-6 else 255.0 / high), 0.0
    scaled = np.where(finite, image * scale + offset, 0.0)
    # Truncation, as TF's cast to uint8.
    pixels = np.clip(scaled, 0, 255).astype(np.uint8)
    bad = ~finite.all(axis=-1)
    if bad.any():
        pixels[bad] = _BAD_COLOR[: image.shape[-1]]
    return pixels


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image  # Pillow comes with tensorboard; imported only when an image is written.

    mode = {1: "L", 3: "RGB", 4: "RGBA"}[pixels.shape[-1]]
    array = pixels[..., 0] if mode == "L" else pixels
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array), mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def text_value(tag: str, text: Any) -> summary_pb2.Summary.Value:
    """A string tensor summary for TensorBoard's text plugin (a str, bytes, or an array/list of them).

    >>> text_value("note", "hello").tensor.string_val
    [b'hello']
    """
    array = np.asarray(text.detach().cpu().numpy() if isinstance(text, torch.Tensor) else text, dtype=object)
    strings = [item if isinstance(item, bytes) else str(item).encode("utf-8") for item in array.reshape(-1)]
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in array.shape]
    )
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=shape, string_val=strings)
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text")
    )
    return summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)


def summary_values(summaries: Mapping[str, tuple[str, Any]]) -> list[summary_pb2.Summary.Value]:
    """Protos for ``tag -> (kind, value)`` as recorded by ``te.summary.*``; scalars read in one sync.

    Raises:
        ValueError: a kind other than scalar, histogram, image or text.

    >>> values = summary_values({"a": ("scalar", 1.0), "b": ("text", "hi")})
    >>> [value.tag for value in values]
    ['a', 'b']
    """
    scalars = {tag: value for tag, (kind, value) in summaries.items() if kind == "scalar"}
    scalar_protos = iter(scalar_values(scalars))
    protos: list[summary_pb2.Summary.Value] = []
    for tag, (kind, value) in summaries.items():
        if kind == "scalar":
            protos.append(next(scalar_protos))
        elif kind == "histogram":
            protos.append(summary_pb2.Summary.Value(tag=tag, histo=histogram_proto(tag, value)))
        elif kind == "image":
            protos.extend(image_values(tag, value))
        elif kind == "text":
            protos.append(text_value(tag, value))
        else:
            raise ValueError(
                f"Unknown summary kind {kind!r} for tag {tag!r}. Expected one of {SUMMARY_KINDS}; record "
                "summaries with te.summary.scalar / histogram / image / text."
            )
    return protos


def _to_numpy(value: Any) -> np.ndarray:
    array = np.asarray(to_numpy(value))
    return array.astype(np.float32) if array.dtype == np.bool_ else array
