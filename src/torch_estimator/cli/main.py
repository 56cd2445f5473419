"""The ``torch-estimator`` command."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Sequence

from torch_estimator.serving.cli import add_serve_arguments

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``torch-estimator {demo, serve, inspect} ...`` (``--help`` on each)."""
    parser = argparse.ArgumentParser(prog="torch-estimator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train, evaluate, predict and resume an iris classifier")
    demo.add_argument(
        "--model-dir", default=None, help="where checkpoints and logs go (default: a new temp dir)"
    )
    demo.add_argument("--steps", type=int, default=400, help="training steps of the first call")
    serve = commands.add_parser("serve", help="serve exports over TF Serving's REST API")
    inspect = commands.add_parser("inspect", help="show a checkpoint's variables or an export's signatures")
    inspect.add_argument("path", help="a model_dir, a model.ckpt-N prefix, or an export directory")
    add_serve_arguments(serve)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.command == "demo":
        from torch_estimator.cli.demo import run_demo

        model_dir = args.model_dir or tempfile.mkdtemp(prefix="torch_estimator_demo_")
        run_demo(model_dir, steps=args.steps)
    elif args.command == "serve":
        from torch_estimator.serving.cli import run_serve, server_options

        try:
            options = server_options(args)
        except ValueError as err:
            serve.error(str(err))
        return run_serve(options)
    elif args.command == "inspect":
        from torch_estimator.cli.inspect import run_inspect

        return run_inspect(args.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
