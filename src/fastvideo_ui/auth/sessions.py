"""Sign-in sessions kept by the server, so that signing out ends one for good.

A session's id is 256 random bits, sent as an HttpOnly cookie; the database
keeps only an HMAC of it keyed by the API token, so a copy of the database
holds nothing a browser could present, and a new token leaves every stored
session unmatched (every browser signs in again). Sessions outlive a restart.

Every live session is also held in memory: each `<video>` range request and
event stream checks one on the event loop, where no SQLite read may wait. A
check is a hash and a dict read; a sign-out drops the session from memory
before it answers, so a replayed cookie is refused by the very next request.
Writes (sign-in, sign-out) touch the database: call them from a thread.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from sqlalchemy import Engine, delete, insert, select

from ..database.tables import SignInSession

SESSION_TTL_S = 30 * 24 * 3600
MAX_SESSIONS = 1000


class SessionBook:
    def __init__(self, engine: Engine, token: str, max_sessions: int = MAX_SESSIONS,
                 ttl_s: float = SESSION_TTL_S) -> None:
        self._engine = engine
        self._key = hashlib.sha256(b"fastvideo-ui session key\0" + token.encode()).digest()
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self._live: dict[str, float] = {}  # digest -> expiry, oldest first
        self._lock = threading.Lock()  # sign-ins run in threads, checks on the event loop

    def _digest(self, session_id: str) -> str:
        return hmac.new(self._key, session_id.encode(errors="surrogatepass"), hashlib.sha256).hexdigest()

    def load(self, now: float | None = None) -> None:
        """Drop expired sessions, and read the rest (those of an earlier token
        too: they cannot be told apart, match nothing, and expire in time)."""
        now = time.time() if now is None else now
        with self._engine.begin() as connection:
            connection.execute(delete(SignInSession).where(SignInSession.expires_at <= now))
            rows = connection.execute(select(SignInSession.digest, SignInSession.expires_at)
                                      .order_by(SignInSession.created_at)).all()
        with self._lock:
            self._live = {digest: expires_at for digest, expires_at in rows}
        self._evict_over_cap()

    def create(self, now: float | None = None) -> str:
        """A new session's id, for the cookie (it is kept nowhere but there)."""
        now = time.time() if now is None else now
        session_id = secrets.token_urlsafe(32)
        digest = self._digest(session_id)
        with self._engine.begin() as connection:
            connection.execute(delete(SignInSession).where(SignInSession.expires_at <= now))
            connection.execute(insert(SignInSession).values(digest=digest, created_at=now,
                                                             expires_at=now + self.ttl_s))
        with self._lock:
            self._live = {d: e for d, e in self._live.items() if e > now}
            self._live[digest] = now + self.ttl_s
        self._evict_over_cap()
        return session_id

    def valid(self, session_id: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        digest = self._digest(session_id)
        with self._lock:
            expires_at = self._live.get(digest)
            if expires_at is not None and expires_at <= now:
                del self._live[digest]  # its row goes at the next sign-in or start
                expires_at = None
        return expires_at is not None

    def revoke(self, session_id: str) -> bool:
        """End a session (refused at once); False if it was not a live one."""
        digest = self._digest(session_id)
        with self._lock:
            was_live = self._live.pop(digest, None) is not None
        if was_live:
            with self._engine.begin() as connection:
                connection.execute(delete(SignInSession).where(SignInSession.digest == digest))
        return was_live

    def __len__(self) -> int:
        return len(self._live)

    def _evict_over_cap(self) -> None:
        """Past --max-sessions, the oldest sessions end: only holders of the
        token sign in, but a script that signs in in a loop must not grow
        this (and every check's memory) for ever."""
        with self._lock:
            excess = len(self._live) - self.max_sessions
            oldest = list(self._live)[:excess] if excess > 0 else []
            for digest in oldest:
                del self._live[digest]
        if oldest:
            with self._engine.begin() as connection:
                connection.execute(delete(SignInSession).where(SignInSession.digest.in_(oldest)))
