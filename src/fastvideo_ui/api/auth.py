"""Bearer-token auth for /api, and the session cookie the web UI logs in for.

`<video>` and EventSource cannot send an Authorization header, so the UI trades
the token once (POST /api/session) for an HttpOnly cookie. The cookie holds an
expiry, a nonce and an HMAC keyed by a hash of the token: it never contains the
token, survives a server restart, and dies when the token changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from http.cookies import SimpleCookie

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from .asgi import send_json_error

COOKIE_NAME = "fastvideo_ui_session"
SESSION_TTL_S = 30 * 24 * 3600
# Reachable without credentials: the health probe, and the login itself.
PUBLIC_API_PATHS = frozenset({"/api/health", "/api/session"})
METRICS_PATH = "/metrics"  # Prometheus's usual path; the token guards it unless --metrics-public


class Credentials:
    """Checks a bearer token or a session cookie against the configured token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self._key = hashlib.sha256(b"fastvideo-ui session key\0" + self._token).digest()

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._token)

    def new_session(self, now: float | None = None) -> str:
        expires = int((now or time.time()) + SESSION_TTL_S)
        payload = f"{expires}.{secrets.token_urlsafe(12)}"
        return f"{payload}.{self._sign(payload)}"

    def session_valid(self, cookie: str, now: float | None = None) -> bool:
        payload, _, signature = cookie.rpartition(".")
        expires_text = payload.split(".", 1)[0]
        if not payload or not expires_text.isdigit():
            return False
        if not hmac.compare_digest(signature, self._sign(payload)):
            return False
        return int(expires_text) > (now or time.time())

    def request_allowed(self, headers: Headers) -> bool:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.token_matches(value.strip()):
            return True
        cookie = session_cookie(headers)
        return cookie is not None and self.session_valid(cookie)

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()


def session_cookie(headers: Headers) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # noqa: BLE001 - a malformed Cookie header is simply no session
        return None
    morsel = jar.get(COOKIE_NAME)
    return morsel.value if morsel else None


class FailedAttempts:
    """Wrong tokens per client address: after `limit` in `window_s`, that
    address is refused (429) until the window has passed, so a token cannot be
    guessed at network speed. Only a presented wrong token counts, never a
    request without credentials."""

    def __init__(self, limit: int = 10, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.get(address)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[address]
        return failures

    def retry_after(self, address: str, now: float | None = None) -> int | None:
        """Seconds until this address may try again, or None if it may now."""
        now = time.monotonic() if now is None else now
        failures = self._recent(address, now)
        if len(failures) < self.limit:
            return None
        return max(1, int(failures[0] + self.window_s - now + 0.999))

    def record(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._recent(address, now)
        self._failures.setdefault(address, deque()).append(now)
        if len(self._failures) > 10_000:  # a flood of addresses must not grow this forever
            self._failures.pop(next(iter(self._failures)))


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def too_many_attempts_detail(retry_after: int) -> str:
    return f"Too many wrong tokens from this address; try again in {retry_after} s"



UNAUTHORIZED = ("Authentication required: send 'Authorization: Bearer <token>', "
                "or log in with POST /api/session")


class RequireToken:
    """Pure ASGI, so the event stream and file responses pass through untouched."""

    def __init__(self, app: ASGIApp, credentials: Credentials, attempts: FailedAttempts,
                 metrics_public: bool = False) -> None:
        self.app = app
        self.credentials = credentials
        self.attempts = attempts
        self.metrics_public = metrics_public

    def _guarded(self, path: str) -> bool:
        if path == METRICS_PATH:
            return not self.metrics_public
        if path == "/v1" or path.startswith("/v1/"):  # the OpenAI-style API
            return True
        return (path == "/api" or path.startswith("/api/")) and path not in PUBLIC_API_PATHS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or not self._guarded(path):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.credentials.request_allowed(headers):  # the right credentials are never refused
            await self.app(scope, receive, send)
            return
        address = client_address(scope)
        openai_shape = path.startswith("/v1/")
        retry_after = self.attempts.retry_after(address)
        if retry_after is not None:
            await send_json_error(send, 429, too_many_attempts_detail(retry_after),
                                  (b"retry-after", str(retry_after).encode()), openai_shape=openai_shape)
            return
        if headers.get("authorization"):
            self.attempts.record(address)
        await send_json_error(send, 401, UNAUTHORIZED, (b"www-authenticate", b'Bearer realm="fastvideo-ui"'),
                              openai_shape=openai_shape)
