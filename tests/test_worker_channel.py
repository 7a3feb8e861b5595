"""The server reads a worker's messages whole, however long a line is within
reason: FastVideo's registry, sent by the worker started with the server, is
near asyncio's default line limit of 64 KiB."""

from __future__ import annotations

import asyncio
import json
import socket

from conftest import run_in_own_loop

from fastvideo_ui.workers import protocol
from fastvideo_ui.workers.process import open_channel


def test_a_registry_past_64_kib_is_one_message() -> None:
    models = [{"id": f"org/model-{index}", "defaults": {"negative_prompt": "x" * 400}} for index in range(400)]
    message = {"type": "registry", "models": models}
    line = protocol.encode(message)
    assert len(line) > 2 * 65536

    async def read() -> dict[str, object]:
        ours, theirs = socket.socketpair()
        reader, writer = await open_channel(ours)
        await asyncio.get_running_loop().sock_sendall(theirs, line)
        try:
            return protocol.decode(await reader.readline())
        finally:
            writer.close()
            theirs.close()

    assert run_in_own_loop(read()) == json.loads(line)
