"""The `fastvideo-ui` command."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .commands import add_client_commands, add_client_options, run_client_command
from .config import add_server_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastvideo-ui", description="A job runner and web UI for video generation.")
    parser.add_argument("--version", action="version", version=f"fastvideo-ui {__version__}")
    add_client_options(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="start the API and the web UI on one port")
    add_server_arguments(serve_parser)
    add_client_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        if args.server is not None:
            parser.error("--server is for the client commands; serve takes --host and --port")
        from .server import serve

        return serve(args)
    return run_client_command(args)


if __name__ == "__main__":
    sys.exit(main())
