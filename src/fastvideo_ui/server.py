"""`python -m fastvideo_ui.server`: the same flags as `fastvideo-ui serve`."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from .app import create_app
from .config import add_server_arguments, settings_from_args
from .workers.devices import detect_inventory


def serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    logging.basicConfig(
        level=logging.DEBUG if settings.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        inventory = detect_inventory(settings.gpus, settings.cpu_slots)
    except ValueError as exc:
        raise SystemExit(f"cannot use these GPUs: {exc}") from None
    app = create_app(settings, inventory)
    print(f"fastvideo-ui on http://{settings.host}:{settings.port}/  (data: {settings.data_dir})", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port,
                log_level="info" if settings.verbose else "warning", timeout_graceful_shutdown=5)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastvideo_ui.server", description="Run the fastvideo-ui server.")
    add_server_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
