"""Models over an integer hash column export: the loaded signature returns ``predict``'s numbers.

Integer ids are hashed in torch (``hashing.tensor_integer_fingerprint64``), so the whole feature
transform traces under ``torch.export``; the ids, and so the outputs, match eager ``predict``.
"""

from __future__ import annotations

import pytest
import torch

import torch_estimator as te

fc = te.feature_column
ID = fc.categorical_column_with_hash_bucket("id", 50, dtype=torch.int64)
CONFIG = te.RunConfig(device="cpu", log_step_count_steps=None, save_summary_steps=0, tf_random_seed=3)


def _input_fn():
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        ids = torch.randint(-(10**12), 10**12, (8, 1), generator=generator)
        yield {"id": ids}, torch.randint(0, 2, (8, 1), generator=generator)


def _estimators(model_dir):
    return {
        "linear": te.LinearClassifier([ID], config=CONFIG.replace(model_dir=str(model_dir / "linear"))),
        "dnn": te.DNNClassifier(
            [4], [fc.embedding_column(ID, 3)], config=CONFIG.replace(model_dir=str(model_dir / "dnn"))
        ),
    }


@pytest.mark.parametrize("kind", ["linear", "dnn"])
def test_exported_integer_hash_model_equals_predict(tmp_path, kind):
    estimator = _estimators(tmp_path)[kind]
    estimator.train(_input_fn)
    receiver = te.export.build_raw_serving_input_receiver_fn({"id": torch.zeros(2, 1, dtype=torch.int64)})
    path = estimator.export_saved_model(str(tmp_path / "export"), receiver)
    signatures = te.saved_model.load(path).signatures
    ids = torch.tensor([[0], [-7], [2**63 - 1], [-(2**63)], [123456789012], [42]])
    (predicted,) = estimator.predict(lambda: iter([{"id": ids}]), yield_single_examples=False)
    probabilities = torch.as_tensor(predicted["probabilities"])
    # serving_default is the classification signature: its scores are the class probabilities.
    torch.testing.assert_close(signatures["serving_default"](id=ids)["scores"], probabilities)
    exported = signatures["predict"](id=ids)
    torch.testing.assert_close(exported["logits"], torch.as_tensor(predicted["logits"]))
    torch.testing.assert_close(exported["probabilities"], probabilities)
