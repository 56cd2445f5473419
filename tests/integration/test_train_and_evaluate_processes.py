"""train_and_evaluate as separate processes: a chief (alone, or with two workers in one DDP group)
trains while an evaluator follows its checkpoints and exports.

Every process runs the same script; TF_CONFIG alone gives each its role, as in a tf.estimator cluster.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

import torch_estimator as te

SCRIPT = textwrap.dedent(
    """
    import json, sys, time, warnings
    warnings.simplefilter("ignore")
    import torch
    import torch_estimator as te

    MAX_STEPS = 60

    class SlowSteps(te.SessionRunHook):
        def after_run(self, run_context, run_values):
            time.sleep(0.03)

    def model_fn(features, labels, mode):
        x = features["x"] if isinstance(features, dict) else features
        w = te.get_variable("w", [2, 1], initializer=0.0)
        pred = x @ w
        if mode == te.ModeKeys.PREDICT:
            return te.EstimatorSpec(mode, predictions={"y": pred})
        loss = ((pred - labels) ** 2).mean()
        op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
        return te.EstimatorSpec(mode, loss=loss, train_op=op)

    def input_fn():
        return torch.ones(1, 2), torch.ones(1, 1)

    receiver_fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.ones(1, 2)})
    config = te.RunConfig(
        save_checkpoints_steps=10, keep_checkpoint_max=2, log_step_count_steps=None, save_summary_steps=0,
        device="cpu", experimental_max_worker_delay_secs=1,
    )
    estimator = te.Estimator(model_fn, model_dir=sys.argv[1], config=config)
    exporters = [te.LatestExporter("latest", receiver_fn), te.FinalExporter("final", receiver_fn)]
    result = te.train_and_evaluate(
        estimator,
        te.TrainSpec(input_fn, max_steps=MAX_STEPS, hooks=[SlowSteps()]),
        te.EvalSpec(input_fn, steps=1, exporters=exporters, start_delay_secs=0, throttle_secs=0.5),
    )
    trains = estimator.config.task_type != "evaluator"
    weights = estimator.get_variable_value("w").tolist() if trains else None
    with open(sys.argv[2], "w") as f:
        json.dump({"task_type": estimator.config.task_type, "result": result, "w": weights}, f)
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


@pytest.mark.integration
@pytest.mark.distributed
@pytest.mark.parametrize("workers", [0, 2], ids=["chief", "chief+2workers"])
def test_training_processes_and_an_evaluator_that_follows_and_exports(tmp_path, workers):
    script = tmp_path / "train_and_evaluate.py"
    script.write_text(SCRIPT)
    model_dir = str(tmp_path / "model")
    cluster = {"chief": [f"localhost:{free_port()}"]}
    tasks = [("chief", 0), ("evaluator", 0)]
    if workers:
        cluster["worker"] = [f"localhost:{free_port()}" for _ in range(workers)]
        tasks += [("worker", index) for index in range(workers)]
    processes = {}
    for task_type, index in tasks:
        task = {"type": task_type, "index": index}
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": task}))
        name = f"{task_type}{index}"
        processes[name] = subprocess.Popen(
            [sys.executable, str(script), model_dir, str(tmp_path / f"{name}.json")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    outputs = {}
    try:
        for task_type, process in processes.items():
            outputs[task_type] = process.communicate(timeout=240)[0]
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    reports = {}
    for name, process in processes.items():
        assert process.returncode == 0, f"{name} failed:\n{outputs[name]}"
        with open(tmp_path / f"{name}.json") as f:
            reports[name] = json.load(f)
        assert reports[name]["task_type"] == name.rstrip("0123456789")
        assert reports[name]["result"] is None
    # Every training replica ends with the chief's weights (DDP keeps them equal; all read model_dir).
    trained = [report["w"] for name, report in reports.items() if not name.startswith("evaluator")]
    assert all(weights == trained[0] for weights in trained)

    evaluated = te.summary.read_eval_metrics(os.path.join(model_dir, "eval"))
    assert max(evaluated) == 60  # the evaluator stopped after the checkpoint at max_steps
    assert all(step % 10 == 0 for step in evaluated)
    final_exports = os.listdir(os.path.join(model_dir, "export", "final"))
    assert len(final_exports) == 1
    with open(os.path.join(model_dir, "export", "final", final_exports[0], "saved_model.json")) as f:
        assert json.load(f)["global_step"] == 60
    assert 1 <= len(os.listdir(os.path.join(model_dir, "export", "latest"))) <= 5
