"""``torch-estimator serve``: TF Serving's ``tensorflow_model_server`` flags, for the REST API."""

from __future__ import annotations

import argparse

from torch_estimator.serving.app import DEFAULT_INLINE_MAX_MICROS, DEFAULT_MAX_BODY_BYTES
from torch_estimator.serving.config import (
    BatchingOptions,
    ModelConfig,
    read_batching_parameters_file,
    read_model_config_file,
)
from torch_estimator.serving.server import ModelServer, ServerOptions

__all__ = ["add_serve_arguments", "run_serve", "server_options"]


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``serve`` flags (TF Serving's names and defaults) to ``parser``."""
    models = parser.add_argument_group("models")
    models.add_argument(
        "--model_name", default="default", help="name of the model in URLs (default: default)"
    )
    models.add_argument("--model_base_path", default="", help="directory of numeric version subdirectories")
    models.add_argument(
        "--model_config_file",
        default="",
        help="text-proto ModelServerConfig (model_config_list) for several models, instead of "
        "--model_base_path",
    )
    models.add_argument(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="seconds between polls for new versions (<= 0: poll once at start)",
    )
    models.add_argument(
        "--max_num_load_retries", type=int, default=5, help="retries of a failed version load"
    )
    models.add_argument(
        "--tensorflow_intra_op_parallelism",
        type=int,
        default=1,
        help="torch intra-op threads per request (default 1: concurrency comes from request threads; 0: "
        "torch's default)",
    )
    rest = parser.add_argument_group("REST API")
    rest.add_argument("--rest_api_port", type=int, default=8501, help="port (0: any free port; default 8501)")
    rest.add_argument("--rest_api_host", default="127.0.0.1", help="address to bind (default: loopback only)")
    rest.add_argument("--rest_api_num_threads", type=int, default=8, help="threads that run requests")
    rest.add_argument(
        "--max_body_bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="larger request bodies get 413"
    )
    rest.add_argument(
        "--rest_api_inline_micros",
        type=int,
        default=DEFAULT_INLINE_MAX_MICROS,
        help="answer on the event loop requests of signatures that take less than this (0: never)",
    )
    batching = parser.add_argument_group("batching")
    batching.add_argument("--enable_batching", action="store_true", help="merge concurrent requests")
    batching.add_argument("--batching_parameters_file", default="", help="text-proto BatchingParameters")
    defaults = BatchingOptions()
    batching.add_argument("--max_batch_size", type=int, default=defaults.max_batch_size)
    batching.add_argument("--batch_timeout_micros", type=int, default=defaults.batch_timeout_micros)
    batching.add_argument("--num_batch_threads", type=int, default=defaults.num_batch_threads)
    batching.add_argument("--max_enqueued_batches", type=int, default=defaults.max_enqueued_batches)


def server_options(args: argparse.Namespace) -> ServerOptions:
    """The ``ServerOptions`` of parsed ``serve`` flags.

    Raises:
        ValueError: neither or both of --model_base_path and --model_config_file, or a bad file.

    >>> parser = argparse.ArgumentParser()
    >>> add_serve_arguments(parser)
    >>> options = server_options(parser.parse_args(["--model_name", "m", "--model_base_path", "/models/m"]))
    >>> options.models[0].name, options.port, options.host, options.batching
    ('m', 8501, '127.0.0.1', None)
    """
    if bool(args.model_base_path) == bool(args.model_config_file):
        raise ValueError(
            "Both server_options.model_base_path and server_options.model_config_file are empty!"
            if not args.model_base_path
            else "Give --model_base_path or --model_config_file, not both."
        )
    if args.model_config_file:
        models = tuple(read_model_config_file(args.model_config_file))
    else:
        models = (ModelConfig(args.model_name, args.model_base_path),)
    batching = None
    if args.enable_batching:
        batching = BatchingOptions(
            max_batch_size=args.max_batch_size,
            batch_timeout_micros=args.batch_timeout_micros,
            num_batch_threads=args.num_batch_threads,
            max_enqueued_batches=args.max_enqueued_batches,
        )
        if args.batching_parameters_file:
            batching = read_batching_parameters_file(args.batching_parameters_file, batching)
    return ServerOptions(
        models=models,
        host=args.rest_api_host,
        port=args.rest_api_port,
        poll_wait_seconds=args.file_system_poll_wait_seconds,
        batching=batching,
        max_body_bytes=args.max_body_bytes,
        num_threads=args.rest_api_num_threads,
        inline_max_micros=args.rest_api_inline_micros,
        max_num_load_retries=args.max_num_load_retries,
        intra_op_threads=args.tensorflow_intra_op_parallelism or None,
    )


def run_serve(options: ServerOptions) -> int:
    """Serves until SIGINT/SIGTERM; 0 on a clean shutdown."""
    ModelServer(options).serve_forever()
    return 0
