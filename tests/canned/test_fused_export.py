"""A wide-and-deep model that reads its tables fused exports them as separate variables.

Training and ``predict`` read the tables of both parts through one storage each; the Graph an
export builds never fuses, so ``torch.export.save`` finds every parameter owning its storage (a
partial view would make it warn, an error under the suite's ``filterwarnings = error``) and the
loaded program gives ``predict``'s numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as te
from torch_estimator.export.program import SignatureModule
from torch_estimator.feature_column.input_layer import fused_input_layer
from torch_estimator.train.fused_rows import fused_rows_registry

fc = te.feature_column
USER = fc.categorical_column_with_identity("user", 50)
ITEM = fc.categorical_column_with_identity("item", 40)
SHOP = fc.categorical_column_with_identity("shop", 30)
PRICE = fc.numeric_column("price")
LINEAR = [USER, ITEM, SHOP, PRICE]
DNN = [PRICE, fc.embedding_column(USER, 4), fc.embedding_column(ITEM, 4), fc.embedding_column(SHOP, 4)]


def _features(generator: torch.Generator, size: int) -> dict[str, torch.Tensor]:
    return {
        "user": torch.randint(0, 50, (size, 1), generator=generator),
        "item": torch.randint(0, 40, (size, 1), generator=generator),
        "shop": torch.randint(0, 30, (size, 1), generator=generator),
        "price": torch.rand(size, 1, generator=generator),
    }


def _input_fn():
    generator = torch.Generator().manual_seed(0)
    for _ in range(4):
        yield _features(generator, 8), torch.randint(0, 2, (8, 1), generator=generator)


def test_fused_wide_and_deep_exports_predict_numbers(tmp_path, quiet_config, fused_reads):
    est = te.DNNLinearCombinedClassifier(
        model_dir=tmp_path / "model",
        linear_feature_columns=LINEAR,
        dnn_feature_columns=DNN,
        dnn_hidden_units=[4],
        config=quiet_config(),
    )
    est.train(_input_fn, steps=4)
    assert any(fused_reads)  # training read the tables fused

    example = {key: tensor[:2] for key, tensor in _features(torch.Generator().manual_seed(1), 2).items()}
    # Warnings are errors in this suite: a partial-view parameter would fail the export here.
    path = est.export_saved_model(tmp_path / "export", te.export.build_raw_serving_input_receiver_fn(example))

    features = _features(torch.Generator().manual_seed(2), 5)
    fused_reads.clear()
    (expected,) = est.predict(lambda: iter([features]), yield_single_examples=False)
    assert any(fused_reads)  # predict read them fused too
    outputs = te.saved_model.load(path).signatures["predict"](**features)
    for key in ("logits", "probabilities", "class_ids"):
        np.testing.assert_allclose(outputs[key].numpy(), expected[key], rtol=1e-6, atol=1e-6, err_msg=key)


def _two_table_graph() -> te.Graph:
    columns = [fc.embedding_column(fc.categorical_column_with_identity(key, 5), 2) for key in "ab"]

    def model_fn(features, mode):
        return te.EstimatorSpec(mode, predictions=fused_input_layer(features, columns))

    return te.Graph(model_fn)


@pytest.mark.parametrize("guard", ["registry", "signature_module"])
def test_unfused_variables_own_their_storage_and_keep_values(guard):
    graph = _two_table_graph()
    features = {"a": torch.tensor([[1], [3]]), "b": torch.tensor([[4], [0]])}
    with torch.no_grad():
        first = graph(features, None, te.ModeKeys.PREDICT).predictions
        graph(features, None, te.ModeKeys.PREDICT)
    registry = fused_rows_registry(graph)
    assert len(registry.tables) == 1
    variables = [parameter for _, parameter in graph.named_parameters()]
    assert len({variable.untyped_storage().data_ptr() for variable in variables}) == 1

    if guard == "registry":
        registry.unfuse()
    else:
        SignatureModule(graph, ["a", "b"], lambda inputs: {})
    assert registry.tables == {} and not registry.fusing
    for variable in variables:
        assert variable.untyped_storage().nbytes() == variable.numel() * variable.element_size()
    with torch.no_grad():
        again = graph(features, None, te.ModeKeys.PREDICT).predictions
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    assert registry.tables == {}  # the Graph fuses no more
