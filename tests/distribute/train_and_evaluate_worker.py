"""One process of the torchrun train_and_evaluate test, run as a script (by torchrun).

    python train_and_evaluate_worker.py MODEL_DIR REPORT_DIR [--timeout S]

No TF_CONFIG: train_and_evaluate runs the local role on every rank of the torchrun process group.
The model is ``y = x @ w + b`` with squared error and SGD; each rank trains on its share of the
stream (input_context), evaluation reads all 3 eval batches. Checkpoints every 2 steps to
max_steps 4, throttle 0: evaluations and exports at steps 2 and 4, on rank 0 alone. Rank 0 writes
``REPORT_DIR/result.json`` (the last metrics, the export paths, every rank's eval batch count);
every rank writes ``REPORT_DIR/done<rank>``.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import torch
import torchmetrics

import torch_estimator as te
from torch_estimator.contract.current import current_graph

EVAL_BATCHES = 3


def batch(index):
    """Batch ``index``: 4 examples, 3 features, one target."""
    generator = torch.Generator().manual_seed(2000 + index)
    return torch.randn(4, 3, generator=generator), torch.randn(4, 1, generator=generator)


def rank():
    return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0


def model_fn(features, labels, mode):
    x = features["x"] if isinstance(features, dict) else features
    w = te.get_variable("linear/w", [3, 1])
    b = te.get_variable("linear/b", [1], initializer=te.initializers.zeros())
    predictions = x @ w + b
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions={"y": predictions})
    loss = ((predictions - labels) ** 2).mean()
    train_op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    # A torchmetrics object syncs itself in compute() when a process group exists: a local
    # evaluation must keep it from doing so (rank 1 would never join).
    mse = current_graph().get_object("mse", torchmetrics.MeanSquaredError)
    mse.update(predictions.detach(), labels)
    metrics = {"mae": te.metrics.mean_absolute_error(labels, predictions), "mse": mse}
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op, eval_metric_ops=metrics)


def train_input_fn(input_context):
    return input_context.shard(batch(index) for index in itertools.count())


def eval_input_fn(input_context):
    """All eval batches: a local evaluation sees one input pipeline (asserted by the test)."""
    assert input_context.num_input_pipelines == 1, input_context
    return (batch(10_000 + index) for index in range(EVAL_BATCHES))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("report_dir")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = te.RunConfig(
        model_dir=args.model_dir,
        tf_random_seed=7,
        save_checkpoints_steps=2,
        save_summary_steps=0,
        log_step_count_steps=None,
        device="cpu",
        collective_timeout_secs=args.timeout,
    )
    estimator = te.Estimator(model_fn, config=config)
    receiver_fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.zeros(1, 3)})
    exporter = te.LatestExporter("latest", receiver_fn)
    train_spec = te.TrainSpec(train_input_fn, max_steps=4)
    eval_spec = te.EvalSpec(eval_input_fn, steps=None, exporters=[exporter], throttle_secs=0)
    metrics, exports = te.train_and_evaluate(estimator, train_spec, eval_spec)
    if rank() == 0:
        result = {"metrics": {k: float(v) for k, v in metrics.items()}, "exports": [str(e) for e in exports]}
        Path(args.report_dir, "result.json").write_text(json.dumps(result))
    Path(args.report_dir, f"done{rank()}").touch()


if __name__ == "__main__":
    main()
