"""Estimator.train over several CPU processes (gloo): TF_CONFIG and torchrun launches, rank-0 rules,
a dead worker, resume.

Every process runs ``distributed_worker.py`` (a user script). The model is linear with squared
error and SGD; rank r reads batches r, r + W, r + 2W, ... of one stream. DDP averages the ranks'
gradients, and each rank's loss is a mean over 4 examples, so one distributed step equals one
single-process step on the W batches concatenated (a mean over 4W examples): the expected
variables come from a single-process Estimator trained on the concatenated batches.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import torch_estimator as te

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(120)]

WORKER = Path(__file__).with_name("distributed_worker.py")
RUN_TIMEOUT_S = 90
_LAUNCH_VARIABLES = ("TF_CONFIG", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def load_worker():
    spec = importlib.util.spec_from_file_location("distributed_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra):
    env = {key: value for key, value in os.environ.items() if key not in _LAUNCH_VARIABLES}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    return env


def launch_tf_config(tmp_path, num_workers, *args):
    """Starts the chief and ``num_workers`` workers; returns their exit codes and logs."""
    cluster = {
        "chief": [f"127.0.0.1:{free_port()}"],
        "worker": [f"127.0.0.1:{free_port()}" for _ in range(num_workers)],
    }
    tasks = [("chief", 0)] + [("worker", index) for index in range(num_workers)]
    processes = []
    for task_type, index in tasks:
        tf_config = json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})
        log = tmp_path / f"{task_type}{index}.log"
        with open(log, "w") as out:
            command = [sys.executable, str(WORKER), *map(str, args)]
            processes.append(
                (subprocess.Popen(command, env=clean_env(TF_CONFIG=tf_config), stdout=out, stderr=out), log)
            )
    return [wait(process, log) for process, log in processes]


def wait(process, log):
    try:
        code = process.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"a training process hung for {RUN_TIMEOUT_S} s; its log:\n{log.read_text()}")
    return code, log.read_text()


def checkpoint_files(model_dir):
    return sorted(name for name in os.listdir(model_dir) if name.startswith("model.ckpt"))


def expected_variables(tmp_path, world_size, steps):
    """A single-process Estimator on the ranks' batches concatenated, step by step."""
    worker = load_worker()

    def input_fn():
        for step in itertools.count():
            parts = [worker.batch(step * world_size + r) for r in range(world_size)]
            yield torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    config = te.RunConfig(
        model_dir=str(tmp_path / "reference"),
        tf_random_seed=7,
        save_summary_steps=0,
        log_step_count_steps=None,
        device="cpu",
    )
    estimator = te.Estimator(worker.make_model_fn(str(tmp_path)), config=config)
    estimator.train(input_fn, max_steps=steps)
    return {name: torch.as_tensor(estimator.get_variable_value(name)) for name in ("linear/w", "linear/b")}


def test_chief_and_two_workers_from_tf_config(tmp_path):
    model_dir, report_dir = tmp_path / "model", tmp_path / "report"
    report_dir.mkdir()
    results = launch_tf_config(tmp_path, 2, model_dir, report_dir, "--max-steps", 4)
    assert [code for code, _ in results] == [0, 0, 0], "\n\n".join(log for _, log in results)

    reports = [torch.load(report_dir / f"rank{rank}.pt", weights_only=True) for rank in range(3)]
    assert [int(report["global_step"]) for report in reports] == [4, 4, 4]
    for report in reports[1:]:
        torch.testing.assert_close(report, reports[0], rtol=0, atol=0)
    # Saves at steps 0, 2, 4 by the chief alone: one set of checkpoints, one events file.
    assert checkpoint_files(model_dir) == [
        f"model.ckpt-{step}.{suffix}" for step in (0, 2, 4) for suffix in ("json", "safetensors")
    ]
    assert len([name for name in os.listdir(model_dir) if name.startswith("events.out.tfevents")]) == 1
    assert sorted(path.name for path in report_dir.glob("chief_hook_*")) == ["chief_hook_rank0"]

    estimator_view = te.Estimator(load_worker().make_model_fn(str(report_dir)), model_dir=str(model_dir))
    assert estimator_view.get_variable_value("global_step") == 4
    torch.testing.assert_close(
        torch.as_tensor(estimator_view.get_variable_value("linear/w")), reports[0]["linear/w"]
    )
    expected = expected_variables(tmp_path, 3, 4)
    torch.testing.assert_close(reports[0]["linear/w"], expected["linear/w"])
    torch.testing.assert_close(reports[0]["linear/b"], expected["linear/b"])


def test_torchrun_launch_and_resume(tmp_path):
    model_dir, report_dir = tmp_path / "model", tmp_path / "report"
    report_dir.mkdir()

    def torchrun(max_steps):
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
            "--max-steps",
            str(max_steps),
        ]
        log = tmp_path / f"torchrun{max_steps}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(command, env=clean_env(), stdout=out, stderr=out)
        return wait(process, log)

    code, log = torchrun(2)
    assert code == 0, log
    first = [torch.load(report_dir / f"rank{rank}.pt", weights_only=True) for rank in range(2)]
    torch.testing.assert_close(first[1], first[0], rtol=0, atol=0)

    # Resume: every rank restores the chief's step-2 checkpoint, then both train to step 4.
    code, log = torchrun(4)
    assert code == 0, log
    restored = [torch.load(report_dir / f"restored_rank{rank}.pt", weights_only=True) for rank in range(2)]
    for state in restored:
        torch.testing.assert_close(state, first[0], rtol=0, atol=0)
    final = [torch.load(report_dir / f"rank{rank}.pt", weights_only=True) for rank in range(2)]
    assert [int(state["global_step"]) for state in final] == [4, 4]
    torch.testing.assert_close(final[1], final[0], rtol=0, atol=0)
    assert checkpoint_files(model_dir)[-2:] == ["model.ckpt-4.json", "model.ckpt-4.safetensors"]


def test_a_killed_worker_fails_the_job_with_a_clear_error(tmp_path):
    model_dir, report_dir = tmp_path / "model", tmp_path / "report"
    report_dir.mkdir()
    results = launch_tf_config(
        tmp_path, 1, model_dir, report_dir, "--max-steps", 1000, "--kill-at-step", 3, "--timeout", 20
    )
    (chief_code, chief_log), (worker_code, _) = results
    assert worker_code == -9
    assert chief_code != 0
    assert "DistributedTrainingError" in chief_log
    assert "rank 0 of 2" in chief_log and "another process died or stopped responding" in chief_log
