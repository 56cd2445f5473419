"""``torch-estimator serve`` (a real subprocess) and ``torch-estimator inspect``."""

from __future__ import annotations

import argparse
import os
import queue
import re
import subprocess
import sys
import threading

import pytest
import torch

from torch_estimator.checkpoint import write_checkpoint
from torch_estimator.cli.main import main
from torch_estimator.serving.cli import add_serve_arguments, server_options


class ServeProcess:
    """``torch-estimator serve`` on a free port in a subprocess; ``url`` is read from its log line."""

    def __init__(self, *flags: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "torch_estimator.cli.main", "serve", "--rest_api_port", "0", *flags],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.url = self._wait_for_url()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.put(line)

    def _wait_for_url(self) -> str:
        log = []
        while True:
            try:
                line = self.lines.get(timeout=60)
            except queue.Empty:
                self.stop()
                raise AssertionError("serve did not start within 60 s:\n" + "".join(log)) from None
            log.append(line)
            found = re.search(r"Exporting HTTP/REST API at:(http://127\.0\.0\.1:\d+)", line)
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                self.stop()
                raise AssertionError("serve exited:\n" + "".join(log))

    def stop(self) -> int:
        """SIGTERM, as a process manager stops it; the exit status."""
        self.process.terminate()
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)
        finally:
            self.reader.join(timeout=10)
            self.process.stderr.close()


@pytest.mark.integration
def test_serve_command_in_a_subprocess(model_base, serving, tmp_path):
    base = model_base(1, 2)
    batching = tmp_path / "batching.config"
    batching.write_text("max_batch_size { value: 4 } batch_timeout_micros { value: 100 }")
    server = ServeProcess(
        "--model_name", "iris", "--model_base_path", base, "--enable_batching",
        "--batching_parameters_file", str(batching),
    )  # fmt: skip
    url = server.url
    try:
        status, body = serving.request("GET", f"{url}/v1/models/iris")
        assert (status, body["model_version_status"][0]["version"]) == (200, "2")
        request = {"signature_name": "regress", "instances": [[1, 2, 3, 4]]}
        assert serving.request("POST", f"{url}/v1/models/iris:predict", request) == (
            200,
            {"predictions": [20.0]},
        )
        too_many = {"signature_name": "regress", "instances": [[1, 2, 3, 4]] * 5}
        status, body = serving.request("POST", f"{url}/v1/models/iris:predict", too_many)
        assert status == 400 and "larger than maximum batch size 4" in body["error"]
    finally:
        assert server.stop() == 0


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return parser.parse_args(argv)


def test_serve_flags_become_server_options(tmp_path):
    options = server_options(parse("--model_base_path", "/m", "--enable_batching", "--max_batch_size", "16"))
    assert options.models[0].name == "default"  # TF Serving's default model name
    assert (options.host, options.port, options.poll_wait_seconds) == ("127.0.0.1", 8501, 1.0)
    assert (options.batching.max_batch_size, options.batching.batch_timeout_micros) == (16, 1000)
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list { config { name: 'a' base_path: '/a' } config { name: 'b' base_path: '/b' } }"
    )
    options = server_options(parse("--model_config_file", str(config), "--rest_api_host", "0.0.0.0"))
    assert [model.name for model in options.models] == ["a", "b"]
    assert options.host == "0.0.0.0" and options.batching is None
    with pytest.raises(ValueError, match=r"model_base_path and server_options\.model_config_file are empty"):
        server_options(parse())
    with pytest.raises(ValueError, match="not both"):
        server_options(parse("--model_base_path", "/m", "--model_config_file", str(config)))


def test_serve_without_a_model_exits_with_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve"])
    assert exit_info.value.code == 2
    assert "model_base_path" in capsys.readouterr().err


def test_inspect_export_shows_signatures_like_saved_model_cli(export_versions, capsys):
    assert main(["inspect", export_versions[1]]) == 0
    out = capsys.readouterr().out
    assert "global_step 100" in out
    assert "signature_def['serving_default']:" in out
    assert (
        "    inputs['x'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 4)\n        name: x\n"
        in out
    )
    assert "    outputs['class_ids'] tensor_info:\n        dtype: DT_INT64\n        shape: (-1,)\n" in out
    assert "  Method name is: tensorflow/serving/classify" in out
    assert "  Class names: ['setosa', 'versicolor', 'virginica']" in out
    assert "Parses tf.Example features:" in out


def test_inspect_base_path_shows_the_newest_version(model_base, capsys):
    base = model_base(1, 2)
    assert main(["inspect", base]) == 0
    out = capsys.readouterr().out
    assert "holds export versions [1, 2]; showing the newest, 2." in out
    assert "global_step 200" in out


def test_inspect_checkpoint_lists_variables(tmp_path, capsys):
    tensors = {"dnn/hiddenlayer_0/kernel": torch.zeros(4, 10), "dnn/logits/bias": torch.zeros(3)}
    write_checkpoint(os.path.join(tmp_path, "model.ckpt-5"), tensors, global_step=5)
    assert main(["inspect", os.path.join(tmp_path, "model.ckpt-5")]) == 0
    out = capsys.readouterr().out
    assert "dnn/hiddenlayer_0/kernel (DT_FLOAT) [4,10]" in out
    assert "dnn/logits/bias (DT_FLOAT) [3]" in out


def test_inspect_of_something_else_fails(tmp_path, capsys):
    assert main(["inspect", str(tmp_path)]) == 1
    assert "neither an export directory" in capsys.readouterr().err
