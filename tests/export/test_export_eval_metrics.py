"""An EVAL-mode export traces te.metrics' deferred updates (they fold at once while tracing)."""

from __future__ import annotations

import torch

import torch_estimator as te


def model_fn(features, labels, mode):
    logits = te.layers.dense(features["x"], 3)
    classes = logits.argmax(-1)
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions={"c": classes})
    loss = torch.nn.functional.cross_entropy(logits, labels)
    if mode == te.ModeKeys.EVAL:
        metrics = {"acc": te.metrics.accuracy(labels, classes)}
        return te.EstimatorSpec(mode, loss=loss, predictions={"c": classes}, eval_metric_ops=metrics)
    op = te.train.AdamOptimizer(0.01).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=op)


def test_eval_export_with_te_metrics_gives_the_batch_accuracy(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(16, 4)
    y = (x[:, 0] > 0).long()
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    estimator = te.Estimator(model_fn, model_dir=tmp_path / "model", config=config)
    estimator.train(lambda: ({"x": x}, y), steps=5)
    receiver_fn = te.export.build_raw_supervised_input_receiver_fn(
        {"x": torch.zeros(2, 4)}, torch.zeros(2, dtype=torch.int64)
    )
    export_dir = estimator.export_saved_model(
        tmp_path / "export", receiver_fn, experimental_mode=te.ModeKeys.EVAL
    )
    signature = te.saved_model.load(export_dir).signatures["eval"]
    outputs = signature(x=x, label=y)
    predicted = outputs["predictions/c"]
    # Accumulators start from zero on each call, so the value is this batch's accuracy.
    expected = (predicted == y).float().mean()
    torch.testing.assert_close(outputs["metrics/acc/value"].float(), expected)
