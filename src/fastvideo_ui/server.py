"""`python -m fastvideo_ui.server`: the same flags as `fastvideo-ui serve`."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import socket
import sys

import uvicorn
from fastapi import FastAPI

from .app import create_app
from .config import Settings, add_server_arguments, settings_from_args
from .connections import ConnectionLimits, connection_cap, guarded_protocol, raise_fd_limit
from .datadir import DataDirBusy, DataDirLock
from .database.engine import database_problem
from .workers.devices import detect_inventory


MAX_HEADER_BYTES = 64 * 1024
LISTEN_BACKLOG = 2048


def serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    logging.basicConfig(
        level=logging.DEBUG if settings.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    lock, app = prepare(settings)
    try:
        sock = listen(settings.host, settings.port)
    except SystemExit:
        lock.release()
        raise
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"fastvideo-ui on http://{host}:{sock.getsockname()[1]}/  (data: {settings.data_dir})", flush=True)
    server = GracefulServer(uvicorn_config(settings, app), app)
    interrupted = False
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # Ctrl-C: uvicorn has already shut down in good order, then raised the
        # signal again so that the process ends as interrupted, which asyncio
        # turns into this exception (and a traceback, to a user who did nothing wrong).
        interrupted = True
    finally:
        lock.release()
    if not server.started:
        return 3  # it never served (uvicorn.run's startup-failure code)
    return 128 + signal.SIGINT if interrupted else 0


def listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound and listening before anything says the
    server is up (uvicorn binds only once it starts, after the URL has been
    printed), or SystemExit saying what to change."""
    # IPPROTO_TCP named: asyncio turns Nagle's algorithm off only for sockets
    # that say they are TCP, and accepted ones take this one's word. With proto
    # 0, every response written in two parts waited out the client's delayed
    # ACK: 44 ms a request, against 1.5.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # As uvicorn does: a restart need not wait for the last run's connections
    # to leave TIME_WAIT (a port another socket listens on is still refused).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # uvicorn's own backlog: a burst of connections waits here to be accepted
        # (and, past --max-connections, to take a waiting one's place).
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SystemExit(f"port {port} on {host} is already in use (another server?): stop what holds it, "
                             f"or choose another port with --port") from None
        raise SystemExit(f"cannot listen on {host} port {port} (--host, --port): {exc.strerror or exc}") from None
    return sock


def prepare(settings: Settings) -> tuple[DataDirLock, FastAPI]:
    """The data directory's lock and the app, or SystemExit saying why not."""
    for flag, directory in (("--data-dir", settings.data_dir), ("--output-dir", settings.output_dir),
                            ("--log-dir", settings.log_dir)):
        try:
            if directory is not None:  # set by Settings from the data dir when not given
                directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SystemExit(f"{flag} {directory}: cannot make it a directory ({exc.strerror or exc})") from None
    try:
        lock = DataDirLock.acquire(settings.data_dir)
    except DataDirBusy as exc:
        raise SystemExit(str(exc)) from None
    assert settings.output_dir is not None
    problem = database_problem(settings.db_path, settings.output_dir)
    if problem:
        lock.release()
        raise SystemExit(problem)
    try:
        inventory = detect_inventory(settings.gpus, settings.cpu_slots)
    except ValueError as exc:
        lock.release()
        raise SystemExit(f"cannot use these GPUs: {exc}") from None
    return lock, create_app(settings, inventory)


class GracefulServer(uvicorn.Server):
    """uvicorn's server, which ends the running jobs first when told to stop,
    before it waits for open connections (an open page's event stream holds
    one): uvicorn skips the app's own shutdown when a second Ctrl-C cuts that
    wait short, and the jobs must not read as running after it."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        runtime = getattr(self._app.state, "runtime", None)  # None: it never started
        if runtime is not None:
            try:
                await runtime.scheduler.close()  # the app's shutdown calls it again, to no effect
            except Exception:  # noqa: BLE001 - the server must still stop
                logging.getLogger("fastvideo_ui").exception("ending the running jobs failed")
        await super().shutdown(sockets)


def uvicorn_config(settings: Settings, app: FastAPI) -> uvicorn.Config:
    max_connections = connection_cap(settings.max_connections, raise_fd_limit())
    return uvicorn.Config(
        app, host=settings.host, port=settings.port,
        log_level="info" if settings.verbose else "warning", timeout_graceful_shutdown=5,
        http=guarded_protocol(ConnectionLimits(
            header_timeout_s=settings.header_timeout_s, max_header_bytes=MAX_HEADER_BYTES,
            max_connections=max_connections, max_per_client=settings.max_connections_per_client,
            body_idle_timeout_s=settings.body_idle_timeout_s, body_timeout_s=settings.body_timeout_s,
            body_min_rate=settings.body_min_rate, write_timeout_s=settings.write_timeout_s,
            max_pipelined=settings.max_pipelined)),
        # X-Forwarded-For is believed only from a proxy the user names: from
        # anyone else it would let a client pick its own address (and so
        # dodge the wrong-token lock-out).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastvideo_ui.server", description="Run the fastvideo-ui server.")
    add_server_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
