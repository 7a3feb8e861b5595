"""`python -m fastvideo_ui.server`: the same flags as `fastvideo-ui serve`."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from .app import create_app
from .config import add_server_arguments, settings_from_args
from .connections import connection_cap, guarded_protocol, raise_fd_limit
from .datadir import DataDirBusy, DataDirLock
from .jobs.db import database_problem
from .workers.devices import detect_inventory


MAX_HEADER_BYTES = 64 * 1024


def serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    logging.basicConfig(
        level=logging.DEBUG if settings.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        lock = DataDirLock.acquire(settings.data_dir)
    except DataDirBusy as exc:
        raise SystemExit(str(exc)) from None
    assert settings.output_dir is not None
    problem = database_problem(settings.db_path, settings.output_dir)
    if problem:
        raise SystemExit(problem)
    try:
        inventory = detect_inventory(settings.gpus, settings.cpu_slots)
    except ValueError as exc:
        raise SystemExit(f"cannot use these GPUs: {exc}") from None
    app = create_app(settings, inventory)
    max_connections = connection_cap(settings.max_connections, raise_fd_limit())
    protocol = guarded_protocol(settings.header_timeout_s, MAX_HEADER_BYTES, max_connections)
    print(f"fastvideo-ui on http://{settings.host}:{settings.port}/  (data: {settings.data_dir})", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port,
                log_level="info" if settings.verbose else "warning", timeout_graceful_shutdown=5,
                http=protocol,
                # X-Forwarded-For is believed only from a proxy the user names: from
                # anyone else it would let a client pick its own address (and so
                # dodge the wrong-token lock-out).
                proxy_headers=bool(settings.trusted_proxies),
                forwarded_allow_ips=",".join(settings.trusted_proxies) or None)
    lock.release()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastvideo_ui.server", description="Run the fastvideo-ui server.")
    add_server_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
