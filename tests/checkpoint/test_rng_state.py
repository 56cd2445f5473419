"""capture_rng_state / restore_rng_state for torch, numpy and Python's random."""

from __future__ import annotations

import json
import random

import numpy as np
import torch

from torch_estimator.checkpoint.rng import (
    capture_rng_state,
    restore_rng_state,
    rng_state_from_checkpoint,
    rng_state_to_checkpoint,
)


def _draw() -> tuple:
    return (torch.rand(3).tolist(), np.random.rand(2).tolist(), np.random.randn(), random.random())


def test_restore_replays_every_generator():
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    state = capture_rng_state()
    first = _draw()
    restore_rng_state(state)
    assert _draw() == first


def test_checkpoint_split_is_json_ready_and_round_trips():
    state = capture_rng_state()
    tensors, entry = rng_state_to_checkpoint(state)
    entry = json.loads(json.dumps(entry))
    assert all(t.dtype == torch.uint8 for t in tensors.values())
    first = _draw()
    restore_rng_state(rng_state_from_checkpoint(tensors, entry))
    assert _draw() == first
