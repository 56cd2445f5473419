"""Estimator.train under FSDP2 on two CPU processes (gloo), with sharded (DCP) checkpoints.

The file is also the training script each process runs (``python test_fsdp_train.py ...``): a
two-layer network with Adam (so checkpoints hold sharded slots), rank r reading batches
r, r + W, ... of one stream. Each rank reports the gathered full state (variables and slots) after
the restore and at the end, so tests compare it with what the checkpoint holds.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import torch_estimator as te

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(120)]

SCRIPT = Path(__file__)
RUN_TIMEOUT_S = 90
_LAUNCH_VARIABLES = ("TF_CONFIG", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


# -- the training script -----------------------------------------------------------------------


def batch(index):
    """Batch ``index`` of the stream: 4 examples, 3 features, one target."""
    generator = torch.Generator().manual_seed(2000 + index)
    return torch.randn(4, 3, generator=generator), torch.randn(4, 1, generator=generator)


def model_fn(features, labels, mode):
    hidden = torch.relu(features @ te.get_variable("dense/w", [3, 5]) + te.get_variable("dense/b", [5]))
    outputs = hidden @ te.get_variable("out/w", [5, 1]) + te.get_variable("out/b", [1])
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions={"y": outputs})
    loss = ((outputs - labels) ** 2).mean()
    train_op = te.train.AdamOptimizer(0.05).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def full_state(session):
    """Every checkpointed tensor of this rank's Graph, gathered to full CPU tensors (collective)."""
    state = {}
    for name, value in sorted(session.graph.checkpoint_tensors().items()):
        full = value.full_tensor() if hasattr(value, "full_tensor") else value
        state[name] = full.detach().cpu().clone()
    return state


def rank():
    return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0


class ReportHook(te.SessionRunHook):
    def __init__(self, report_dir):
        self.report_dir = Path(report_dir)

    def after_create_session(self, session, coord):
        torch.save(full_state(session), self.report_dir / f"restored_rank{rank()}.pt")

    def end(self, session):
        torch.save(full_state(session), self.report_dir / f"final_rank{rank()}.pt")


def racing_clock():
    """Rank 0's clock runs 1000 s per reading; other ranks' clocks stand still."""
    readings = itertools.count()
    if int(os.environ.get("RANK", "0")) == 0:
        return lambda: 1000.0 * next(readings)
    return lambda: 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("report_dir")
    parser.add_argument("--max-steps", type=int, required=True)
    parser.add_argument("--save-secs", type=float, default=None)
    parser.add_argument("--ddp", action="store_true", help="DDP with sharded checkpoints instead of FSDP")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.save_secs is not None:
        time.monotonic = racing_clock()
    config = te.RunConfig(
        model_dir=args.model_dir,
        tf_random_seed=None,
        save_checkpoints_steps=None if args.save_secs else 2,
        save_checkpoints_secs=args.save_secs,
        keep_checkpoint_max=2 if args.save_secs is None else 10,
        save_summary_steps=1,
        log_step_count_steps=None,
        device="cpu",
        train_distribute=te.distribute.DDPStrategy(checkpoint_format="dcp") if args.ddp else "fsdp",
        collective_timeout_secs=30,
    )
    estimator = te.Estimator(model_fn, config=config)
    stream = (batch(index) for index in itertools.count())
    context_input_fn = lambda input_context: input_context.shard(stream)  # noqa: E731
    estimator.train(context_input_fn, max_steps=args.max_steps, hooks=[ReportHook(args.report_dir)])


# -- the tests -----------------------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(tmp_path, world_size, model_dir, report_dir, *args):
    """Runs the script on ``world_size`` processes (torchrun's variables); asserts they succeed."""
    port = str(free_port())
    base = {key: value for key, value in os.environ.items() if key not in _LAUNCH_VARIABLES}
    base.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    processes = []
    for index in range(world_size):
        env = dict(base)
        if world_size > 1:
            env.update(
                RANK=str(index),
                LOCAL_RANK=str(index),
                WORLD_SIZE=str(world_size),
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=port,
            )
        log = tmp_path / f"run{time.monotonic_ns()}_rank{index}.log"
        command = [sys.executable, str(SCRIPT), str(model_dir), str(report_dir), *map(str, args)]
        with open(log, "w") as out:
            processes.append((subprocess.Popen(command, env=env, stdout=out, stderr=out), log))
    for process, log in processes:
        try:
            code = process.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            for other, _ in processes:
                other.kill()
            pytest.fail(f"training did not finish in {RUN_TIMEOUT_S} s:\n{log.read_text()}")
        assert code == 0, log.read_text()


def load_report(report_dir, name):
    return torch.load(Path(report_dir) / name, weights_only=True)


def listed_checkpoints(model_dir):
    state = te.checkpoint.get_checkpoint_state(str(model_dir))
    return [os.path.basename(path) for path in state.all_model_checkpoint_paths]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two FSDP processes trained to step 4, saving every 2 steps and keeping 2 checkpoints."""
    tmp_path = tmp_path_factory.mktemp("fsdp")
    model_dir, report_dir = tmp_path / "model", tmp_path / "report"
    report_dir.mkdir()
    launch(tmp_path, 2, model_dir, report_dir, "--max-steps", 4)
    return tmp_path, model_dir, report_dir


def test_fsdp_training_writes_sharded_checkpoints(trained):
    _, model_dir, report_dir = trained
    assert listed_checkpoints(model_dir) == ["model.ckpt-2", "model.ckpt-4"]
    names = sorted(os.listdir(model_dir))
    # model.ckpt-0 was garbage-collected; no temporary directory is left.
    assert [name for name in names if name.startswith("model.ckpt")] == [
        "model.ckpt-2.dcp",
        "model.ckpt-2.json",
        "model.ckpt-4.dcp",
        "model.ckpt-4.json",
    ]
    assert te.train.latest_checkpoint(str(model_dir)) == str(model_dir / "model.ckpt-4")
    final = [load_report(report_dir, f"final_rank{r}.pt") for r in range(2)]
    torch.testing.assert_close(final[1], final[0], rtol=0, atol=0)
    saved = te.checkpoint.load_checkpoint(str(model_dir))
    assert saved.global_step == 4
    # The checkpoint holds exactly the gathered state: variables and Adam's sharded slots.
    assert any(name.startswith("dense/w/Adam") for name in saved.tensors)
    torch.testing.assert_close(saved.tensors, final[0], rtol=0, atol=0)
    assert te.checkpoint.load_variable(str(model_dir), "out/b").tolist() == final[0]["out/b"].tolist()


@pytest.mark.parametrize("world_size", [1, 2])
def test_fsdp_checkpoint_resumes_on_another_number_of_processes(trained, world_size):
    tmp_path, model_dir, report_dir = trained
    copy_dir, resumed_report = tmp_path / f"resume{world_size}", tmp_path / f"report{world_size}"
    shutil.copytree(model_dir, copy_dir)
    resumed_report.mkdir()
    launch(tmp_path, world_size, copy_dir, resumed_report, "--max-steps", 6)
    saved = load_report(report_dir, "final_rank0.pt")
    restored = load_report(resumed_report, "restored_rank0.pt")
    torch.testing.assert_close(restored, saved, rtol=0, atol=0)
    final = load_report(resumed_report, "final_rank0.pt")
    assert int(final["global_step"]) == 6
    assert te.checkpoint.load_checkpoint(str(copy_dir)).global_step == 6


def test_single_process_evaluate_and_predict_read_the_sharded_checkpoint(trained):
    _, model_dir, report_dir = trained
    saved = load_report(report_dir, "final_rank0.pt")
    features, labels = batch(0)
    hidden = torch.relu(features @ saved["dense/w"] + saved["dense/b"])
    expected = hidden @ saved["out/w"] + saved["out/b"]
    estimator = te.Estimator(model_fn, model_dir=str(model_dir))
    metrics = estimator.evaluate(lambda: [(features, labels)], steps=1)
    assert metrics["global_step"] == 4
    assert metrics["loss"] == pytest.approx(float(((expected - labels) ** 2).mean()), rel=1e-6)
    predictions = list(estimator.predict(lambda: (batch for batch in [features])))
    torch.testing.assert_close(
        torch.stack([torch.as_tensor(p["y"]) for p in predictions]), expected, rtol=1e-6, atol=1e-6
    )


def test_time_based_saves_follow_rank_0s_clock(tmp_path):
    """Rank 0's clock runs 1000 s per reading and rank 1's stands still; with save_checkpoints_secs=1
    both ranks save together (rank 1 alone would never save and the job would hang).

    The shared time is rank 0's as of the previous step's stop vote: at session start (step 0, a
    save) and after step 1 it has not moved since the start, so step 1 does not save; from then
    on each step's vote moves it 1000 s, so steps 2 and 3 save: checkpoints 0, 2, 3."""
    model_dir, report_dir = tmp_path / "model", tmp_path / "report"
    report_dir.mkdir()
    launch(tmp_path, 2, model_dir, report_dir, "--max-steps", 3, "--save-secs", 1)
    assert listed_checkpoints(model_dir) == ["model.ckpt-0", "model.ckpt-2", "model.ckpt-3"]


def test_ddp_can_write_sharded_checkpoints_too(tmp_path):
    model_dir, report_dir, resumed_report = tmp_path / "model", tmp_path / "report", tmp_path / "resumed"
    report_dir.mkdir()
    resumed_report.mkdir()
    launch(tmp_path, 2, model_dir, report_dir, "--max-steps", 2, "--ddp")
    assert listed_checkpoints(model_dir) == ["model.ckpt-0", "model.ckpt-2"]
    assert os.path.isdir(model_dir / "model.ckpt-2.dcp")
    launch(tmp_path, 1, model_dir, resumed_report, "--max-steps", 3)
    saved = load_report(report_dir, "final_rank0.pt")
    torch.testing.assert_close(load_report(resumed_report, "restored_rank0.pt"), saved, rtol=0, atol=0)


if __name__ == "__main__":
    main()
