"""One checkpoint's files: safetensors + JSON, round trips, corruption detection, no pickle."""

from __future__ import annotations

import json
import os
import pickle
import tempfile

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_estimator.checkpoint import (
    CheckpointNotFoundError,
    CorruptCheckpointError,
    capture_rng_state,
    list_variables,
    load_checkpoint,
    load_variable,
    verify_checkpoint,
    write_checkpoint,
)


def _prefix(directory, step=1) -> str:
    return os.path.join(str(directory), f"model.ckpt-{step}")


def test_round_trip_keeps_values_step_metadata_and_rng(tmp_path):
    prefix = _prefix(tmp_path, 5)
    rng = capture_rng_state()
    write_checkpoint(
        prefix,
        {"dense/kernel": torch.arange(6.0).reshape(3, 2), "global_step": torch.tensor(5)},
        metadata={"run": "a", "losses": [1.5, 0.5]},
        rng_state=rng,
    )
    checkpoint = load_checkpoint(prefix)
    assert checkpoint.global_step == 5
    assert checkpoint.metadata == {"run": "a", "losses": [1.5, 0.5]}
    assert sorted(checkpoint.tensors) == ["dense/kernel", "global_step"]  # RNG tensors are not variables
    assert torch.equal(checkpoint.tensors["dense/kernel"], torch.arange(6.0).reshape(3, 2))
    assert torch.equal(checkpoint.rng_state.torch_cpu, rng.torch_cpu)
    assert checkpoint.rng_state.numpy == rng.numpy
    assert checkpoint.rng_state.python == rng.python


def test_index_records_size_checksum_and_variables(tmp_path):
    prefix = _prefix(tmp_path)
    write_checkpoint(prefix, {"w": torch.zeros(2, 3, dtype=torch.bfloat16)}, global_step=9)
    index = json.loads((tmp_path / "model.ckpt-1.json").read_text())
    assert index["format_version"] == 1
    assert index["global_step"] == 9  # no global_step tensor: the argument is recorded
    assert index["tensor_file_bytes"] == os.path.getsize(prefix + ".safetensors")
    assert index["variables"] == [{"name": "w", "dtype": "bfloat16", "shape": [2, 3]}]
    assert sorted(os.listdir(tmp_path)) == ["model.ckpt-1.json", "model.ckpt-1.safetensors"]


def test_global_step_tensor_wins_over_argument(tmp_path):
    write_checkpoint(_prefix(tmp_path), {"global_step": torch.tensor(42)}, global_step=7)
    assert load_checkpoint(_prefix(tmp_path)).global_step == 42


def test_shared_and_non_contiguous_tensors_are_saved_as_copies(tmp_path):
    base = torch.arange(12.0).reshape(3, 4)
    tensors = {"tied_a": base, "tied_b": base, "transposed": base.t(), "row": base[1]}
    write_checkpoint(_prefix(tmp_path), tensors)
    loaded = load_checkpoint(_prefix(tmp_path)).tensors
    for name, value in tensors.items():
        assert torch.equal(loaded[name], value), name


def test_parameters_with_grad_are_saved_detached(tmp_path):
    parameter = torch.nn.Parameter(torch.ones(2))
    write_checkpoint(_prefix(tmp_path), {"p": parameter})
    assert not load_checkpoint(_prefix(tmp_path)).tensors["p"].requires_grad


def test_non_tensor_value_is_a_type_error(tmp_path):
    with pytest.raises(TypeError, match=r"must be a torch\.Tensor\. Received: float"):
        write_checkpoint(_prefix(tmp_path), {"w": 1.0})
    assert os.listdir(tmp_path) == []


def test_non_json_metadata_is_a_type_error_before_anything_is_written(tmp_path):
    with pytest.raises(TypeError, match="JSON-serializable"):
        write_checkpoint(_prefix(tmp_path), {"w": torch.ones(1)}, metadata={"f": object()})
    assert os.listdir(tmp_path) == []


def test_reserved_rng_names_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        write_checkpoint(_prefix(tmp_path), {"__rng__/torch_cpu": torch.ones(1)})


def test_missing_files_are_checkpoint_not_found(tmp_path):
    write_checkpoint(_prefix(tmp_path), {"w": torch.ones(1)})
    os.remove(_prefix(tmp_path) + ".safetensors")
    with pytest.raises(CheckpointNotFoundError, match="not a valid checkpoint"):
        load_checkpoint(_prefix(tmp_path))
    with pytest.raises(CheckpointNotFoundError, match="not a valid checkpoint"):
        load_checkpoint(_prefix(tmp_path, 99))


def test_truncated_tensor_file_is_corrupt(tmp_path):
    write_checkpoint(_prefix(tmp_path), {"w": torch.ones(100)})
    path = _prefix(tmp_path) + ".safetensors"
    size = os.path.getsize(path)
    os.truncate(path, size - 10)
    with pytest.raises(CorruptCheckpointError, match=f"has {size - 10} bytes, its index records {size}"):
        verify_checkpoint(_prefix(tmp_path))


def test_flipped_byte_fails_the_checksum(tmp_path):
    write_checkpoint(_prefix(tmp_path), {"w": torch.ones(100)})
    path = _prefix(tmp_path) + ".safetensors"
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[-1] ^= 0xFF
    with open(path, "wb") as f:  # a rewrite: new mtime, so no verification is remembered
        f.write(bytes(data))
    with pytest.raises(CorruptCheckpointError, match="checksum"):
        load_checkpoint(_prefix(tmp_path))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is unreadable"),
        ("[]", "not a JSON object"),
        ('{"format": "other"}', "format is 'other'"),
    ],
)
def test_bad_json_is_corrupt(tmp_path, content, message):
    write_checkpoint(_prefix(tmp_path), {"w": torch.ones(1)})
    (tmp_path / "model.ckpt-1.json").write_text(content)
    with pytest.raises(CorruptCheckpointError, match=message):
        load_checkpoint(_prefix(tmp_path))


def test_newer_format_version_says_upgrade(tmp_path):
    write_checkpoint(_prefix(tmp_path), {"w": torch.ones(1)})
    index = json.loads((tmp_path / "model.ckpt-1.json").read_text())
    index["format_version"] = 99
    (tmp_path / "model.ckpt-1.json").write_text(json.dumps(index))
    with pytest.raises(CorruptCheckpointError, match="Upgrade torch-estimator"):
        load_checkpoint(_prefix(tmp_path))


def test_loading_never_unpickles(tmp_path, monkeypatch):
    write_checkpoint(_prefix(tmp_path), {"w": torch.ones(3)}, rng_state=capture_rng_state())

    def refuse(*args, **kwargs):
        raise AssertionError("checkpoint loading must not unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert load_checkpoint(str(tmp_path / "model.ckpt-1")).tensors["w"].tolist() == [1.0, 1.0, 1.0]
    assert load_variable(str(tmp_path / "model.ckpt-1"), "w").tolist() == [1.0, 1.0, 1.0]
    assert not [name for name in os.listdir(tmp_path) if name.endswith((".pt", ".pth", ".pkl", ".bin"))]


def test_paths_with_file_suffixes_and_model_dirs_are_accepted(tmp_path):
    write_checkpoint(_prefix(tmp_path), {"w": torch.ones(1)})
    assert load_checkpoint(_prefix(tmp_path) + ".safetensors").path == _prefix(tmp_path)
    assert load_checkpoint(_prefix(tmp_path) + ".json").path == _prefix(tmp_path)
    # A model_dir without a state file has no latest checkpoint (TF's message).
    with pytest.raises(CheckpointNotFoundError, match="Couldn't find 'checkpoint' file"):
        load_checkpoint(str(tmp_path))


def test_list_variables_is_sorted_and_excludes_rng(tmp_path):
    tensors = {"z": torch.zeros(2, 2), "a/b": torch.tensor(True), "global_step": torch.tensor(3)}
    write_checkpoint(_prefix(tmp_path), tensors, rng_state=capture_rng_state())
    assert list_variables(_prefix(tmp_path)) == [
        ("a/b", (), "bool"),
        ("global_step", (), "int64"),
        ("z", (2, 2), "float32"),
    ]


def test_load_variable_reads_one_tensor_and_names_the_missing_key(tmp_path):
    write_checkpoint(_prefix(tmp_path), {"w": torch.full((2,), 3.0), "b": torch.zeros(1)})
    assert load_variable(_prefix(tmp_path), "w").tolist() == [3.0, 3.0]
    with pytest.raises(KeyError, match="Key nope not found in checkpoint"):
        load_variable(_prefix(tmp_path), "nope")


# -- property: any dict of tensors round trips ----------------------------------------------------

_DTYPES = [torch.float32, torch.float64, torch.int64, torch.bool, torch.bfloat16]


def _make_tensor(dtype: torch.dtype, shape: list[int], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=generator).bool()
    if dtype == torch.int64:
        return torch.randint(-(2**40), 2**40, shape, generator=generator)
    return torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)


_tensor_specs = st.tuples(
    st.sampled_from(_DTYPES),
    st.lists(st.integers(0, 3), min_size=0, max_size=3),  # [] is 0-d; a 0 makes it empty
    st.integers(0, 2**31),
)
_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_/.0123456789", min_size=1, max_size=12).filter(
    lambda name: not name.startswith("__rng__/")
)


@settings(max_examples=30, deadline=None)
@given(specs=st.dictionaries(_names, _tensor_specs, max_size=6), step=st.integers(0, 2**40))
def test_any_tensor_dict_round_trips(specs, step):
    tensors = {name: _make_tensor(dtype, shape, seed) for name, (dtype, shape, seed) in specs.items()}
    with tempfile.TemporaryDirectory() as directory:
        prefix = _prefix(directory)
        write_checkpoint(prefix, tensors, global_step=step)
        checkpoint = load_checkpoint(prefix)
        listed = list_variables(prefix)
    assert checkpoint.global_step == step
    assert set(checkpoint.tensors) == set(tensors)
    for name, value in tensors.items():
        loaded = checkpoint.tensors[name]
        assert loaded.dtype == value.dtype and loaded.shape == value.shape, name
        assert torch.equal(loaded, value), name
    assert listed == sorted(
        (n, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for n, v in tensors.items()
    )
