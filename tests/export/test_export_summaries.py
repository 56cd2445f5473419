"""te.summary ops inside model_fn are no-ops while torch.export traces it: the export still works."""

from __future__ import annotations

import torch

import torch_estimator as te
from torch_estimator.summary import clear_writers


def summarised_model_fn(features, labels, mode):
    """y = x @ w with w = [[1], [2]]; every summary kind, a histogram of the variable included."""
    x = features["x"] if isinstance(features, dict) else features
    w = te.get_variable("w", initializer=torch.tensor([[1.0], [2.0]]))
    te.summary.histogram("w", w)
    te.summary.scalar("w_sum", w.sum())
    te.summary.image("pixels", torch.zeros(1, 2, 2, 1))
    te.summary.text("note", "hello")
    y = x @ w
    te.summary.histogram("y", y)
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions={"y": y})
    loss = (y**2).mean()
    train_op = te.train.GradientDescentOptimizer(0.0).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def test_summaries_of_variables_do_not_break_the_export(tmp_path):
    """x = [1, 1] -> y = 1 + 2 = 3; the learning rate 0 keeps w as written."""
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=1, device="cpu")
    estimator = te.Estimator(summarised_model_fn, model_dir=str(tmp_path / "model"), config=config)
    try:
        estimator.train(lambda: (torch.ones(2, 2), torch.ones(2, 1)), steps=1)
    finally:
        clear_writers()
    receiver_fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.ones(1, 2)})
    export_dir = estimator.export_saved_model(str(tmp_path / "export"), receiver_fn)
    signature = te.saved_model.load(export_dir).signatures["serving_default"]
    assert signature(x=torch.ones(3, 2))["y"].tolist() == [[3.0]] * 3


def test_summary_ops_record_nothing_while_exporting(monkeypatch):
    """Outside an export the tags are recorded; while exporting the ops return the tag only."""
    graph = te.Graph(summarised_model_fn)
    graph(torch.ones(2, 2), None, te.ModeKeys.PREDICT)
    assert sorted(graph.summaries) == ["note", "pixels", "w", "w_sum", "y"]
    monkeypatch.setattr(torch.compiler, "is_exporting", lambda: True)
    graph(torch.ones(2, 2), None, te.ModeKeys.PREDICT)
    assert graph.summaries == {}
