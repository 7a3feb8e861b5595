"""The server says it is up only once its port is its own; a port in use is
one line naming the port and --port, and a non-zero exit."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import free_port

pytestmark = pytest.mark.slow
READY = "fastvideo-ui on http://"


def serve(data: Path, port: int, **options: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "fastvideo_ui.server", "--port", str(port), "--data-dir",
                             str(data)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)


def test_a_port_in_use_is_one_line_naming_it_and_no_ready_line(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = serve(tmp_path / "data", port)
        stdout, stderr = server.communicate(timeout=60)
    assert server.returncode != 0
    assert READY not in stdout + stderr
    assert f"port {port} on 127.0.0.1 is already in use" in stderr and "--port" in stderr
    assert "Traceback" not in stderr and "Errno" not in stderr


def test_the_ready_line_comes_once_the_port_takes_connections(tmp_path: Path) -> None:
    port = free_port()
    server = serve(tmp_path / "data", port)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith(f"{READY}127.0.0.1:{port}/"), line
        # At once, no retry: the socket listens before the line is printed, so
        # the connection waits in its backlog until the app is up.
        assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=30).status_code == 200
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_ctrl_c_stops_the_server_in_one_quiet_line(tmp_path: Path) -> None:
    import os
    import signal

    port = free_port()
    # Its own process group, as a terminal's foreground job is: Ctrl-C is a
    # SIGINT to the whole group.
    server = serve(tmp_path / "data", port, start_new_session=True)
    assert server.stdout is not None
    assert server.stdout.readline().startswith(READY)
    assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=30).status_code == 200
    os.killpg(server.pid, signal.SIGINT)
    stdout, stderr = server.communicate(timeout=60)
    # It used to end in thirty lines of CancelledError and KeyboardInterrupt.
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert server.returncode == 128 + signal.SIGINT  # interrupted, as a shell expects
