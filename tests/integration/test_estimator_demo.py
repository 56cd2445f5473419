"""The `torch-estimator demo` command: train, evaluate, predict, resume on the bundled iris data."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import torch_estimator as te
from torch_estimator.cli.main import main


@pytest.mark.integration
def test_demo_in_process_prints_accuracy_and_resumes(tmp_path, capsys):
    model_dir = str(tmp_path / "demo")
    assert main(["demo", "--model-dir", model_dir, "--steps", "200"]) == 0
    out = capsys.readouterr().out
    accuracies = [float(value) for value in re.findall(r"accuracy = ([0-9.]+)", out)]
    assert len(accuracies) == 2  # after the first training, and after the resumed one
    assert all(0.0 <= accuracy <= 1.0 for accuracy in accuracies)
    # The second call trains steps // 4 = 50 more steps from the checkpoint at 200.
    assert "global_step 200 -> 250" in out
    assert f"tensorboard --logdir {os.path.abspath(model_dir)}" in out
    assert te.Estimator(lambda features: None, model_dir=model_dir).get_variable_value("global_step") == 250
    assert te.experimental.read_eval_metrics(os.path.join(model_dir, "eval")).keys() == {200, 250}


@pytest.mark.integration
def test_demo_command_in_a_subprocess_exits_zero(tmp_path):
    model_dir = str(tmp_path / "demo")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch_estimator.cli.main",
            "demo",
            "--steps",
            "100",
            "--model-dir",
            model_dir,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "accuracy = " in result.stdout
    assert "global_step 100 -> 125" in result.stdout
