"""Checkpoint variable names (and shapes) of every canned estimator, pinned by golden files.

They are TF's names (``dnn/hiddenlayer_0/kernel``, ``linear/linear_model/<column>/weights``,
``baseline/bias``) plus the optimizer slots as te.train names them; warm starting and checkpoint
tools depend on them. Regenerate after an intended change with:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/canned/test_canned_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import torch_estimator as te

fc = te.feature_column
GOLDEN = Path(__file__).resolve().parents[1] / "golden"

AGE = fc.numeric_column("age")
LANGUAGE = fc.categorical_column_with_hash_bucket("language", 10)
DNN_COLUMNS = [AGE, fc.embedding_column(LANGUAGE, 2)]
LINEAR_COLUMNS = [AGE, LANGUAGE]
COMBINED = {
    "linear_feature_columns": LINEAR_COLUMNS,
    "dnn_feature_columns": DNN_COLUMNS,
    "dnn_hidden_units": [3, 2],
}

ESTIMATORS = {
    "baseline_classifier": lambda **common: te.BaselineClassifier(**common),
    "baseline_regressor": lambda **common: te.BaselineRegressor(**common),
    "dnn_classifier": lambda **common: te.DNNClassifier([3, 2], DNN_COLUMNS, **common),
    "dnn_classifier_batch_norm": lambda **common: te.DNNClassifier(
        [3, 2], DNN_COLUMNS, batch_norm=True, optimizer="Adam", **common
    ),
    "dnn_regressor": lambda **common: te.DNNRegressor([3, 2], DNN_COLUMNS, **common),
    "linear_classifier": lambda **common: te.LinearClassifier(LINEAR_COLUMNS, n_classes=3, **common),
    "linear_regressor": lambda **common: te.LinearRegressor(LINEAR_COLUMNS, **common),
    "dnn_linear_combined_classifier": lambda **common: te.DNNLinearCombinedClassifier(**COMBINED, **common),
    "dnn_linear_combined_regressor": lambda **common: te.DNNLinearCombinedRegressor(**COMBINED, **common),
}


def variable_listing(make, model_dir) -> str:
    """``name shape`` per checkpoint variable after one training step, sorted."""
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    est = make(model_dir=model_dir, config=config)
    features = {"age": torch.tensor([[1.0], [2.0]]), "language": np.array([["en"], ["fr"]])}
    est.train(lambda: iter([(features, torch.tensor([[0], [1]]))]), steps=1)
    lines = [f"{name} {list(np.shape(est.get_variable_value(name)))}" for name in est.get_variable_names()]
    return "\n".join(sorted(lines)) + "\n"


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_checkpoint_variable_names_match_golden_file(name, tmp_path):
    golden = GOLDEN / f"canned_{name}.txt"
    listing = variable_listing(ESTIMATORS[name], tmp_path)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(listing)
    assert golden.exists(), f"{golden} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert listing == golden.read_text(), (
        f"The checkpoint variables of {name} changed. If intended, regenerate: UPDATE_GOLDEN=1 "
        ".venv/bin/python -m pytest tests/canned/test_canned_golden.py"
    )
