"""The canned wide-and-deep model reads its tables fused: training gives the per-table numbers bit for bit.

Each case trains twice, with fused lookups and with them switched off (per-table lookups, each
table's own sparse gradient and update), two steps, then three more in a second ``train`` call
(which restores the checkpoint, slots included), and compares every checkpoint tensor exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as te
from torch_estimator.feature_column import fused_lookup

fc = te.feature_column
CITY = fc.categorical_column_with_hash_bucket("city", 11)
TAGS = fc.categorical_column_with_vocabulary_list("tags", ["a", "b", "c", "d"])
DAY = fc.categorical_column_with_identity("day", 7)
AGE = fc.numeric_column("age")
LINEAR = [CITY, TAGS, DAY, AGE]
DNN = [AGE, fc.embedding_column(CITY, 3), fc.embedding_column(TAGS, 3), fc.embedding_column(DAY, 3)]

OPTIMIZERS = {
    "adagrad": {"linear_optimizer": "Adagrad", "dnn_optimizer": "Adagrad"},
    "ftrl_default": {},
    "sgd_and_clipped_adam": {
        "linear_optimizer": lambda: te.train.GradientDescentOptimizer(0.1),
        "dnn_optimizer": lambda: te.train.AdamOptimizer(0.01, clip_norm=1.0),
    },
}


def _input_fn(multivalent: bool):
    rs = np.random.RandomState(0)
    cities = np.array(["paris", "rome", "oslo", "lima", "kyiv"])
    tags = ["a", "b", "c", "d"]

    def batches():
        for _ in range(10):
            features = {
                "city": cities[rs.randint(0, 5, size=(8, 1))],
                "tags": [
                    list(rs.choice(tags, size=rs.randint(0, 3) if multivalent else 1)) for _ in range(8)
                ],
                "day": torch.tensor(rs.randint(0, 7, size=(8, 1))),
                "age": torch.tensor(rs.uniform(size=(8, 1)), dtype=torch.float32),
            }
            yield features, torch.tensor(rs.randint(0, 2, size=(8, 1)))

    return batches()


def _train(model_dir, quiet_config, optimizers, multivalent) -> dict[str, np.ndarray]:
    est = te.DNNLinearCombinedClassifier(
        model_dir=model_dir,
        linear_feature_columns=LINEAR,
        dnn_feature_columns=DNN,
        dnn_hidden_units=[4],
        config=quiet_config(),
        **optimizers,
    )
    est.train(lambda: _input_fn(multivalent), steps=2)
    est.train(lambda: _input_fn(multivalent), steps=3)
    return {name: np.asarray(est.get_variable_value(name)) for name in est.get_variable_names()}


@pytest.mark.parametrize("multivalent", [False, True])
@pytest.mark.parametrize("case", sorted(OPTIMIZERS))
def test_fused_training_equals_per_table_training(
    case, multivalent, tmp_path, quiet_config, monkeypatch, fused_reads
):
    fused = _train(tmp_path / "fused", quiet_config, OPTIMIZERS[case], multivalent)
    assert any(fused_reads)
    monkeypatch.setattr(fused_lookup, "fused_lookups_apply", lambda: False)
    plain = _train(tmp_path / "plain", quiet_config, OPTIMIZERS[case], multivalent)
    assert sorted(fused) == sorted(plain)
    assert "linear/linear_model/city/weights/Ftrl_1" in fused or case != "ftrl_default"
    for name, value in plain.items():
        np.testing.assert_array_equal(fused[name], value, err_msg=name)
