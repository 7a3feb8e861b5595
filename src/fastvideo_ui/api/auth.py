"""Who a request is: one place decides it, for every path that looks at a credential.

Scripts send `Authorization: Bearer <token>`. `<video>` and EventSource cannot
send headers, so the web UI trades the token once (POST /api/session) for an
HttpOnly cookie holding a server-side session's id (auth/sessions.py), never
the token. The middleware judges every request to /api, /v1 and a guarded
/metrics, public paths included, and leaves its verdict in the scope, where
/api/health and /api/session read it instead of looking at credentials again.

Wrong credentials count against the client's address; past the limit the
address gets 429 for any credential it presents, before it is compared, so
the right token and a wrong one answer alike while it is locked out. A live
session cookie still works from there: checking one tells a guesser nothing
about the token.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ..addresses import address_group
from ..auth.sessions import SessionBook
from .asgi import send_json_error

COOKIE_PREFIX = "fastvideo_ui_session"
# Reachable without credentials: the health probe, and the sign-in itself.
PUBLIC_API_PATHS = frozenset({"/api/health", "/api/session"})
METRICS_PATH = "/metrics"  # Prometheus's usual path; the token guards it unless --metrics-public
VERDICT_KEY = "fastvideo_ui.auth"  # where the middleware leaves its verdict in the scope
STALE_COOKIES_KEPT = 1024
WRONG_TOKENS_PER_MINUTE = 10  # --max-wrong-tokens


def cookie_name(port: int) -> str:
    """Per port: a browser sends a host's cookies to every port of it, and two
    servers on one host must neither overwrite nor read each other's."""
    return f"{COOKIE_PREFIX}_{port}"


@dataclass(frozen=True)
class Verdict:
    authenticated: bool
    presented: bool = False  # the request carried a credential, looked at or not
    retry_after: int | None = None  # this address is locked out: its credentials were not compared
    session_id: str | None = None  # the live session it came with, which signing out ends


OPEN = Verdict(authenticated=True)  # a server without a token
UNJUDGED = Verdict(authenticated=False)


class FailedAttempts:
    """Wrong credentials per client address: after `limit` in `window_s`, that
    address is refused (429) until the window has passed, so a token cannot be
    guessed at network speed. Only a presented wrong credential counts, never a
    request without credentials."""

    def __init__(self, limit: int = WRONG_TOKENS_PER_MINUTE, window_s: float = 60.0,
                 max_addresses: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_addresses = max_addresses
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
        if len(self._failures) > self.max_addresses:  # a flood of addresses must not grow this for ever
            self._failures.pop(next(iter(self._failures)))


def client_address(scope: Scope) -> str:
    """The address failures count against: its group (addresses.py), so a
    guesser cannot take a fresh address per guess from its /64, or from
    127.0.0.0/8 on this machine."""
    client = scope.get("client")
    if not client:
        return "unknown"
    return address_group(str(client[0]))


def session_cookies(headers: Headers, name: str) -> list[str]:
    """Every value the request sends under this cookie name. Parsed leniently,
    as browsers send cookies: an unrelated cookie that is not RFC 6265 clean
    (`x=hello world`, `prefs={"theme":"dark"}`, a stray quote or backslash),
    which any page on another port of this host can set, must not hide the
    session. All values, not the last: such a page can also set a cookie of
    this name, with a longer path so that the browser sends it first."""
    values = []
    for header in headers.getlist("cookie"):
        for chunk in header.split(";"):
            key, equals, value = chunk.partition("=")
            if equals and key.strip() == name:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                values.append(value)
    return values


class Credentials:
    """Judges a request's bearer token or session cookie, and a posted token,
    counting every wrong one against its address."""

    def __init__(self, token: str, port: int, attempts: FailedAttempts | None = None) -> None:
        self._token = token.encode()
        self.cookie_name = cookie_name(port)
        self.attempts = attempts or FailedAttempts()
        self.sessions: SessionBook | None = None  # the runtime's, attached once it has started
        # Cookies that were refused once. A browser whose session ended (a new
        # token, an expiry) sends the same stale cookie with every request of
        # its page: that counts as one wrong credential, not ten, so the
        # owner is not locked out of signing in again by their own page.
        self._stale: OrderedDict[bytes, None] = OrderedDict()

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(errors="surrogatepass"), self._token)

    def judge(self, scope: Scope) -> Verdict:
        headers = Headers(scope=scope)
        cookies = session_cookies(headers, self.cookie_name)
        if cookies and self.sessions is not None:
            live = next((value for value in cookies if self.sessions.valid(value)), None)
            if live is not None:
                return Verdict(authenticated=True, presented=True, session_id=live)
        address = client_address(scope)
        retry_after = self.attempts.retry_after(address)
        authorization = headers.get("authorization")
        if authorization is None and not cookies:
            return Verdict(authenticated=False, retry_after=retry_after)
        if retry_after is not None:
            return Verdict(authenticated=False, presented=True, retry_after=retry_after)
        if authorization is not None:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and self.token_matches(value.strip()):
                return Verdict(authenticated=True, presented=True)
            self.attempts.record(address)
        elif any([self._first_refusal(value) for value in cookies]):  # a list: every one is remembered
            self.attempts.record(address)
        return Verdict(authenticated=False, presented=True)

    def try_token(self, scope: Scope, token: str) -> Verdict:
        """A token posted to sign in: compared only if the address is not locked out."""
        address = client_address(scope)
        retry_after = self.attempts.retry_after(address)
        if retry_after is not None:
            return Verdict(authenticated=False, presented=True, retry_after=retry_after)
        if self.token_matches(token):
            return Verdict(authenticated=True, presented=True)
        self.attempts.record(address)
        return Verdict(authenticated=False, presented=True)

    def _first_refusal(self, session_id: str) -> bool:
        key = hashlib.sha256(session_id.encode(errors="surrogatepass")).digest()
        if key in self._stale:
            return False
        self._stale[key] = None
        if len(self._stale) > STALE_COOKIES_KEPT:
            self._stale.popitem(last=False)
        return True


def verdict_of(request: Request) -> Verdict:
    """The middleware's verdict on this request (every route that cares about
    credentials reads it here rather than looking at them itself)."""
    if request.app.state.credentials is None:
        return OPEN
    verdict: Verdict = request.scope.get(VERDICT_KEY, UNJUDGED)
    return verdict


def too_many_attempts_detail(retry_after: int) -> str:
    return f"Too many wrong tokens from this address; try again in {retry_after} s"


UNAUTHORIZED = ("Authentication required: send 'Authorization: Bearer <token>', "
                "or log in with POST /api/session")


class RequireToken:
    """Pure ASGI, so the event stream and file responses pass through untouched."""

    def __init__(self, app: ASGIApp, credentials: Credentials, metrics_public: bool = False) -> None:
        self.app = app
        self.credentials = credentials
        self.metrics_public = metrics_public

    def _guarded(self, path: str) -> bool:
        if path == METRICS_PATH:
            return not self.metrics_public
        if path == "/v1" or path.startswith("/v1/"):  # the OpenAI-style API
            return True
        return (path == "/api" or path.startswith("/api/")) and path not in PUBLIC_API_PATHS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        guarded = self._guarded(path)
        if not guarded and path not in PUBLIC_API_PATHS:  # the page, its files, /docs: no credential looked at
            await self.app(scope, receive, send)
            return
        verdict = self.credentials.judge(scope)
        scope[VERDICT_KEY] = verdict
        openai_shape = path.startswith("/v1/")
        if verdict.authenticated:
            await self.app(scope, receive, send)
        elif verdict.retry_after is not None and (guarded or verdict.presented):
            await send_json_error(send, 429, too_many_attempts_detail(verdict.retry_after),
                                  (b"retry-after", str(verdict.retry_after).encode()), openai_shape=openai_shape)
        elif guarded:
            await send_json_error(send, 401, UNAUTHORIZED, (b"www-authenticate", b'Bearer realm="fastvideo-ui"'),
                                  openai_shape=openai_shape)
        else:  # a public path: it answers what an anonymous caller may see
            await self.app(scope, receive, send)
