"""A Hugging Face hub on loopback serving tiny repositories, enough of the hub's
HTTP API for huggingface_hub's model_info and snapshot_download (HF_ENDPOINT
points them here): repo info with file sizes, and files by HEAD and GET with
Range, so an interrupted download resumes. `rate` slows the file bodies down
(bytes a second) so that a test can watch progress, or cancel mid-way."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
import time
from typing import Any

COMMIT = "a" * 40


class FakeHub:
    def __init__(self, repos: dict[str, dict[str, bytes]], rate: float | None = None,
                 declared_sizes: dict[str, int] | None = None) -> None:
        self.repos = repos
        self.rate = rate
        self.declared_sizes = declared_sizes or {}  # what the repo info claims, where it differs
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Range
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                hub.answer(self, body=True)

            def do_HEAD(self) -> None:  # noqa: N802
                hub.answer(self, body=False)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, request: http.server.BaseHTTPRequestHandler, body: bool) -> None:
        path = request.path.split("?")[0]
        self.requests.append((request.command, path, request.headers.get("Range")))
        info = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/[^/]+)?", path)
        tree = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/[^/]+", path)
        if tree and tree.group(1) in self.repos:
            entries = json.dumps([{"type": "file", "path": name, "size": len(data), "oid": _etag(data)}
                                  for name, data in self.repos[tree.group(1)].items()]).encode()
            self._send(request, 200, {"Content-Type": "application/json"}, entries if body else b"", len(entries))
            return
        resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/[^/]+/(.+)", path)
        if info and info.group(1) in self.repos:
            files = self.repos[info.group(1)]
            payload = json.dumps({
                "id": info.group(1), "modelId": info.group(1), "sha": COMMIT, "private": False,
                "siblings": [{"rfilename": name, "size": self.declared_sizes.get(name, len(data)),
                              "blobId": _etag(data)} for name, data in files.items()],
            }).encode()
            self._send(request, 200, {"Content-Type": "application/json"}, payload if body else b"", len(payload))
            return
        if resolve and resolve.group(1) in self.repos and resolve.group(2) in self.repos[resolve.group(1)]:
            data = self.repos[resolve.group(1)][resolve.group(2)]
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{_etag(data)}"', "Accept-Ranges": "bytes",
                       "Content-Type": "application/octet-stream"}
            start = 0
            ranged = re.fullmatch(r"bytes=(\d+)-", request.headers.get("Range") or "")
            if ranged:
                start = int(ranged.group(1))
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            self._send(request, 206 if ranged else 200, headers, data[start:] if body else b"", len(data) - start)
            return
        self._send(request, 404, {"X-Error-Code": "RepoNotFound", "Content-Type": "application/json"},
                   b'{"error": "Repository not found"}' if body else b"", 33)

    def _send(self, request: http.server.BaseHTTPRequestHandler, status: int, headers: dict[str, str],
              payload: bytes, length: int) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(length))
        request.end_headers()
        if not payload:
            return
        try:
            if self.rate is None:
                request.wfile.write(payload)
                return
            chunk = max(1, int(self.rate / 20))
            for at in range(0, len(payload), chunk):
                request.wfile.write(payload[at:at + chunk])
                request.wfile.flush()
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
