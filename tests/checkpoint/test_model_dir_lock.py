"""ModelDirLock: one trainer per model_dir, across processes and within one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from torch_estimator.checkpoint import ModelDirLock, ModelDirLockedError

# Takes the same flock a ModelDirLock takes, without importing torch (fast to start).
RAW_HOLDER = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on host test".encode())
    print("locked", flush=True)
    sys.stdin.readline()
    """
)

RAW_TRY = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.exit(3)
    """
)


def _lock_path(model_dir) -> str:
    return os.path.join(str(model_dir), ".torch_estimator.lock")


def test_second_lock_in_this_process_fails_and_release_frees_it(tmp_path):
    first = ModelDirLock(str(tmp_path))
    with first:
        assert first.locked
        with pytest.raises(
            ModelDirLockedError, match="another Estimator is training into this model_dir"
        ) as info:
            ModelDirLock(str(tmp_path)).acquire()
        assert f"pid {os.getpid()}" in str(info.value)
        assert "another model_dir" in str(info.value)  # how to fix it
    assert not first.locked
    with ModelDirLock(str(tmp_path)):
        pass


def test_model_dir_is_created(tmp_path):
    with ModelDirLock(str(tmp_path / "new" / "dir")) as lock:
        assert os.path.isfile(lock.path)


def test_lock_held_here_blocks_another_process(tmp_path):
    with ModelDirLock(str(tmp_path)):
        tried = subprocess.run([sys.executable, "-c", RAW_TRY, _lock_path(tmp_path)], timeout=30)
        assert tried.returncode == 3
    tried = subprocess.run([sys.executable, "-c", RAW_TRY, _lock_path(tmp_path)], timeout=30)
    assert tried.returncode == 0


def test_lock_held_by_another_process_names_its_pid_and_dies_with_it(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", RAW_HOLDER, _lock_path(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ModelDirLockedError, match=f"held by pid {holder.pid} on host test"):
            ModelDirLock(str(tmp_path)).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        holder.stdin.close()
        holder.stdout.close()
    with ModelDirLock(str(tmp_path)):  # the kernel dropped the dead holder's lock
        pass


def test_a_model_dir_lock_in_another_process_raises_model_dir_locked_error(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from torch_estimator.checkpoint import ModelDirLock, ModelDirLockedError
        try:
            ModelDirLock(sys.argv[1]).acquire()
        except ModelDirLockedError as err:
            print(err)
            sys.exit(3)
        """
    )
    with ModelDirLock(str(tmp_path)):
        result = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 3, result.stderr
    assert f"pid {os.getpid()}" in result.stdout


def test_acquiring_twice_on_one_object_is_a_runtime_error(tmp_path):
    lock = ModelDirLock(str(tmp_path))
    with lock, pytest.raises(RuntimeError, match="already held"):
        lock.acquire()
