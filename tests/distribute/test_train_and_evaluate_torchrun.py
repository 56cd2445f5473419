"""train_and_evaluate's local role under torchrun (2 CPU processes, gloo, no TF_CONFIG).

Rank 0 saves the checkpoints, so it alone evaluates and exports after each save, over all the eval
data and without collectives; rank 1 waits at its next training collective. The worker script is
``train_and_evaluate_worker.py``: checkpoints every 2 steps to max_steps 4 with throttle 0, so
evaluations and exports happen at steps 2 and 4 (SEMANTICS (k) 5: the save at step 0 is skipped).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import torch_estimator as te
from torch_estimator.summary import clear_writers
from torch_estimator.summary.reader import read_eval_metrics

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(120)]

WORKER = Path(__file__).with_name("train_and_evaluate_worker.py")
RUN_TIMEOUT_S = 90
_LAUNCH_VARIABLES = ("TF_CONFIG", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def load_worker():
    spec = importlib.util.spec_from_file_location("train_and_evaluate_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(tmp_path, model_dir, report_dir):
    env = {key: value for key, value in os.environ.items() if key not in _LAUNCH_VARIABLES}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        str(WORKER),
        str(model_dir),
        str(report_dir),
        "--timeout",
        "60",
    ]
    log = tmp_path / "torchrun.log"
    with open(log, "w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    try:
        code = process.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"train_and_evaluate hung for {RUN_TIMEOUT_S} s; its log:\n{log.read_text()}")
    return code, log.read_text()


def test_local_train_and_evaluate_evaluates_and_exports_on_rank_0(tmp_path):
    model_dir, report_dir = tmp_path / "model", tmp_path / "report"
    report_dir.mkdir()
    code, log = torchrun(tmp_path, model_dir, report_dir)
    assert code == 0, log
    assert (report_dir / "done0").exists() and (report_dir / "done1").exists()

    # Two evaluations (steps 2 and 4), each followed by an export; the last metrics are step 4's.
    exports = sorted((model_dir / "export" / "latest").iterdir())
    assert len(exports) == 2
    result = json.loads((report_dir / "result.json").read_text())
    assert result["metrics"]["global_step"] == 4
    assert result["exports"] == [str(exports[-1])]
    assert sorted(read_eval_metrics(str(model_dir / "eval"))) == [2, 4]

    # The metrics cover all 3 eval batches: the same as one process evaluating the step-4 checkpoint.
    worker = load_worker()
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    estimator = te.Estimator(worker.model_fn, model_dir=str(model_dir), config=config)
    try:
        expected = estimator.evaluate(
            lambda: (worker.batch(10_000 + index) for index in range(worker.EVAL_BATCHES)),
            checkpoint_path=str(model_dir / "model.ckpt-4"),
            name="check",
        )
    finally:
        clear_writers()
    for key in ("loss", "mae", "mse"):
        assert result["metrics"][key] == pytest.approx(float(expected[key]), rel=1e-6), key
    served = te.saved_model.load(str(exports[-1])).signatures["serving_default"]
    features, _ = worker.batch(10_000)
    w, b = estimator.get_variable_value("linear/w"), estimator.get_variable_value("linear/b")
    torch.testing.assert_close(served(x=features)["y"], features @ torch.as_tensor(w) + torch.as_tensor(b))
