"""Features computed in a receiver fn are recomputed from new receiver tensors (export/replay.py)."""

from __future__ import annotations

import pytest
import torch

from torch_estimator.export.replay import record_receiver_fn


def test_identity_features_are_the_new_inputs():
    made = {}

    def receiver_fn():
        made["x"] = torch.zeros(2, 3)
        return {"x": made["x"]}

    features, recording = record_receiver_fn(receiver_fn)
    new = torch.ones(5, 3)
    assert recording.replay(made, {"x": new}, features)["x"] is new


def test_computed_features_follow_a_chain_of_torch_calls():
    made = {}

    def receiver_fn():
        made["raw"] = torch.zeros(2, 2, dtype=torch.int64)
        scaled = made["raw"].float() * 0.5  # two recorded calls: .float() then * 0.5
        return {"scaled": scaled.unsqueeze(-1), "total": torch.cat([scaled, scaled], dim=1).sum(1)}

    features, recording = record_receiver_fn(receiver_fn)
    new = torch.tensor([[2, 4]])
    replayed = recording.replay(made, {"raw": new}, features)
    # scaled = [[1, 2]]; unsqueeze -> [[[1], [2]]]; cat -> [[1, 2, 1, 2]], sum -> [6]
    assert replayed["scaled"].tolist() == [[[1.0], [2.0]]]
    assert replayed["total"].tolist() == [6.0]


def test_in_place_changes_of_a_receiver_tensor_are_not_replayed_on_the_input():
    made = {}

    def receiver_fn():
        made["x"] = torch.zeros(2, 2)
        made["x"].fill_(3.0)  # building the example; must not overwrite a caller's input later
        return {"doubled": made["x"] * 2}

    features, recording = record_receiver_fn(receiver_fn)
    new = torch.ones(1, 2)
    assert recording.replay(made, {"x": new}, features)["doubled"].tolist() == [[2.0, 2.0]]
    assert new.tolist() == [[1.0, 1.0]]


def test_a_feature_that_does_not_depend_on_the_receiver_tensors_is_named():
    made = {}

    def receiver_fn():
        made["x"] = torch.zeros(2, 2)
        return {"x": made["x"], "constant": torch.ones(2, 2)}

    features, recording = record_receiver_fn(receiver_fn)
    with pytest.raises(
        ValueError, match=r"Features \['constant'\] cannot be computed from the receiver tensors"
    ):
        recording.replay(made, {"x": torch.ones(1, 2)}, features)
