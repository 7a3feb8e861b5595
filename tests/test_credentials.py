"""Credentials as real clients send them: the cookies a browser sends along
with the session's, and the many addresses one machine can send from."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import InProcessServer
from fastvideo_ui.addresses import THIS_MACHINE, address_group
from fastvideo_ui.config import add_server_arguments, settings_from_args

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


def test_every_loopback_address_is_one_client_for_the_lock_out(guarded: InProcessServer) -> None:
    """127.0.0.0/8 is all this machine's: a local guesser that takes a new
    source address per guess still gets ten a minute, not ten per address."""
    def from_address(last: int, token: str) -> int:
        transport = httpx.HTTPTransport(local_address=f"127.0.0.{last}")
        with httpx.Client(transport=transport, headers={"Authorization": f"Bearer {token}"}) as client:
            return client.get(guarded.url + "/api/jobs").status_code

    assert [from_address(2 + i, f"{TOKEN}-guess-{i}") for i in range(12)] == [401] * 10 + [429] * 2
    assert from_address(200, TOKEN) == 429  # the right token too, from any other loopback address
    assert guarded.client.get("/api/jobs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 429


@pytest.mark.parametrize("host,group", [
    ("127.0.0.1", THIS_MACHINE), ("127.0.0.2", THIS_MACHINE), ("127.255.255.254", THIS_MACHINE),
    ("::1", THIS_MACHINE), ("::ffff:127.0.0.9", THIS_MACHINE), ("[::1]", THIS_MACHINE),
    ("203.0.113.9", "203.0.113.9"), ("::ffff:203.0.113.9", "203.0.113.9"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"), ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"), ("fe80::1%eth0", "fe80::/64"), ("testclient", "testclient"),
])
def test_address_groups(host: str, group: str) -> None:
    assert address_group(host) == group


def parse(*argv: str) -> argparse.Namespace | object:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    return settings_from_args(parser.parse_args(list(argv)))


def test_the_lock_out_limit_is_a_flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert parse().max_wrong_tokens == 10  # type: ignore[attr-defined]
    monkeypatch.setenv("FASTVIDEO_UI_MAX_WRONG_TOKENS", "50")
    assert parse().max_wrong_tokens == 50  # type: ignore[attr-defined]
    assert parse("--max-wrong-tokens", "3").max_wrong_tokens == 3  # type: ignore[attr-defined]
    with pytest.raises(SystemExit, match="--max-wrong-tokens must be 1 or more"):
        parse("--max-wrong-tokens", "0")
    server = InProcessServer(tmp_path / "data", ["--api-token", TOKEN, "--max-wrong-tokens", "3"])
    try:
        server.start()
        wrong = {"Authorization": f"Bearer {TOKEN}-guess"}
        assert [server.client.get("/api/jobs", headers=wrong).status_code for _ in range(5)] == [401] * 3 + [429] * 2
    finally:
        server.terminate()
        server.client.close()
