"""``ModelServer``: the model manager, the REST app and its HTTP server, started and stopped together."""

from __future__ import annotations

import dataclasses
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from torch_estimator.serving.app import DEFAULT_INLINE_MAX_MICROS, DEFAULT_MAX_BODY_BYTES, RestApp
from torch_estimator.serving.config import BatchingOptions, ModelConfig
from torch_estimator.serving.http_server import HttpServer
from torch_estimator.serving.manager import ModelManager

__all__ = ["ModelServer", "ServerOptions", "serve"]

logger = logging.getLogger("torch_estimator")


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """How ``torch-estimator serve`` runs (TF Serving's flags where they apply)."""

    models: tuple[ModelConfig, ...]
    """The served models (``--model_name``/``--model_base_path`` or ``--model_config_file``)."""
    host: str = "127.0.0.1"
    """Address to bind (``--rest_api_host``): loopback unless told otherwise."""
    port: int = 8501
    """``--rest_api_port``; 0 picks a free port (see ``ModelServer.port``)."""
    poll_wait_seconds: float = 1.0
    """``--file_system_poll_wait_seconds``: period of the version poll; <= 0 polls once at start."""
    batching: BatchingOptions | None = None
    """``--enable_batching`` with its parameters; None = no batching (TF Serving's default)."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Larger request bodies are refused with 413."""
    num_threads: int = 8
    """``--rest_api_num_threads``: threads that decode, run and encode requests."""
    inline_max_micros: int = DEFAULT_INLINE_MAX_MICROS
    """Requests of signatures that typically answer faster than this run on the event loop, without
    thread switches (0: always in the threads)."""
    max_num_load_retries: int = 5
    """``--max_num_load_retries``: further tries for a version that failed to load."""
    intra_op_threads: int | None = None
    """``torch.set_num_threads`` for the process when the server starts (None: leave it). One thread per
    request is usually best for serving: concurrency comes from the request threads, and idle OpenMP
    workers spinning between small calls steal the cores that parse HTTP."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        names = [model.name for model in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"Each model name may be served once. Received: {names}.")
        if not 0 <= self.port < 65536:
            raise ValueError(f"--rest_api_port must be in [0, 65535]. Received: {self.port}.")
        if self.intra_op_threads is not None and self.intra_op_threads < 1:
            raise ValueError(f"intra_op_threads must be >= 1 or None. Received: {self.intra_op_threads}.")
        if self.inline_max_micros < 0:
            raise ValueError(f"inline_max_micros must be >= 0. Received: {self.inline_max_micros}.")
        if self.max_body_bytes < 1 or self.num_threads < 1:
            raise ValueError(
                "max_body_bytes and num_threads must be >= 1. Received: "
                f"{self.max_body_bytes}, {self.num_threads}."
            )


class ModelServer:
    """Serves ``options.models`` over TF Serving's REST API.

    ``start()`` loads the models, binds the port and serves from a background thread (tests, notebooks);
    ``serve_forever()`` serves in the calling thread until SIGINT/SIGTERM (the CLI). Also a context
    manager: ``with ModelServer(options) as server: ...`` starts and stops it.

    >>> with ModelServer(ServerOptions(models=(), port=0)) as server:
    ...     server.url.startswith("http://127.0.0.1:")
    True
    """

    def __init__(
        self,
        options: ServerOptions,
        *,
        loader: Callable[[str], Any] | None = None,
        list_versions: Callable[[str], list[int]] | None = None,
    ) -> None:
        self.options = options
        self.manager = ModelManager(
            options.models,
            loader=loader,
            list_versions=list_versions,
            max_num_load_retries=options.max_num_load_retries,
        )
        self.app = RestApp(
            self.manager,
            batching=options.batching,
            max_body_bytes=options.max_body_bytes,
            num_threads=options.num_threads,
            inline_max_micros=options.inline_max_micros,
        )
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._server: HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the chosen one when ``options.port`` was 0)."""
        if self._port is None:
            raise RuntimeError("The server is not started; call start() first.")
        return self._port

    @property
    def url(self) -> str:
        host = self.options.host if ":" not in self.options.host else f"[{self.options.host}]"
        return f"http://{host}:{self.port}"

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.options.host else socket.AF_INET
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
        # without it Nagle + delayed ACK add ~40 ms to every response written in two parts.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.options.host, self.options.port))
        except OSError as err:
            sock.close()
            raise OSError(
                f"Could not bind the REST API to {self.options.host}:{self.options.port}: {err}. "
                "Pick another --rest_api_port (0 = any free port)."
            ) from err
        sock.listen(2048)
        return sock

    def start(self, timeout: float = 30.0) -> ModelServer:
        """Loads the models, binds the port and serves from a background thread; returns once serving.
        A stopped server cannot be started again (make a new one)."""
        try:
            import httptools  # noqa: F401 - the optional "serve" dependency: needed only to serve
        except ImportError as err:
            raise ImportError("Serving needs httptools: pip install 'torch-estimator[serve]'.") from err
        if self.options.intra_op_threads is not None:
            torch.set_num_threads(self.options.intra_op_threads)
        self.manager.start(self.options.poll_wait_seconds)
        try:
            self._socket = self._bind()
        except OSError:
            self.stop()
            raise
        self._port = int(self._socket.getsockname()[1])
        self._server = server = HttpServer(self.app)
        self._thread = threading.Thread(
            target=server.run, args=(self._socket,), name="te-serving-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started.wait(0.01):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The REST server did not start within {timeout} s.")
        logger.info("Exporting HTTP/REST API at:%s ...", self.url)
        return self

    def serve_forever(self) -> None:
        """Serves until SIGINT or SIGTERM (caught when called from the main thread), then shuts down
        gracefully and returns."""
        interrupted = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {
                sig: signal.signal(sig, lambda *_: interrupted.set())
                for sig in (signal.SIGINT, signal.SIGTERM)
            }
        try:
            self.start()
            while not interrupted.wait(0.2) and self._thread is not None and self._thread.is_alive():
                pass
            logger.info("Shutting down the REST server.")
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self, timeout: float = 30.0) -> None:
        """Stops accepting requests, finishes the running ones, unloads the models."""
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
        self.app.close()
        self.manager.stop()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(models: Sequence[ModelConfig], **options: Any) -> None:
    """Serves ``models`` until interrupted (``ServerOptions`` fields as keyword arguments)."""
    ModelServer(ServerOptions(models=tuple(models), **options)).serve_forever()
