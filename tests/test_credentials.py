"""Credentials as real clients send them: the cookies a browser sends along
with the session's, and the many addresses one machine can send from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import InProcessServer

TOKEN = "fR3qM8vT1xK6pL2wZ9nB4cY7hJ5dG0sA"


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[InProcessServer]:
    running = InProcessServer(tmp_path / "data", ["--api-token", TOKEN])
    try:
        running.start()
        yield running
    finally:
        running.terminate()
        running.client.close()


def sign_in(server: InProcessServer) -> tuple[str, str]:
    """This server's session cookie: its name and a new session's value."""
    response = httpx.post(server.url + "/api/session", json={"token": TOKEN})
    assert response.status_code == 200, response.text
    ((name, value),) = response.cookies.items()
    return name, value


def with_cookie_header(server: InProcessServer, header: str) -> int:
    return httpx.get(server.url + "/api/jobs", headers={"Cookie": header}).status_code


# What real pages set, and any page on another port of 127.0.0.1 can: Python's
# SimpleCookie gave up on each of them, and with them on the session cookie.
UNRELATED = ["x=hello world", 'prefs={"theme":"dark"}', 'a="x', "q=a\\b", "flag", "=bare", "k=v=w", 'z="a;b"']


@pytest.mark.parametrize("unrelated", UNRELATED)
def test_an_unrelated_cookie_does_not_sign_the_browser_out(guarded: InProcessServer, unrelated: str) -> None:
    name, session = sign_in(guarded)
    assert with_cookie_header(guarded, f"{unrelated}; {name}={session}") == 200
    assert with_cookie_header(guarded, f"{name}={session}; {unrelated}") == 200
    assert with_cookie_header(guarded, f"{unrelated}; {name}={session}x") == 401  # still checked


def test_a_planted_cookie_of_the_same_name_does_not_hide_the_session(guarded: InProcessServer) -> None:
    """A page on another port can set a cookie of this name with a longer path,
    which the browser then sends first."""
    name, session = sign_in(guarded)
    assert with_cookie_header(guarded, f"{name}=planted; {name}={session}") == 200
    assert with_cookie_header(guarded, f'{name}={session}; {name}="planted"') == 200
    answer = httpx.delete(guarded.url + "/api/session", headers={"Cookie": f"{name}=planted; {name}={session}"})
    assert answer.status_code == 200
    assert with_cookie_header(guarded, f"{name}={session}") == 401  # signing out ended the live one
