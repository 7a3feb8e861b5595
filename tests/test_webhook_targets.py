"""Where a webhook may go (one policy, for the URL a job names and for every
address a name resolves to), and how its URL is shown."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from fastvideo_ui import config
from fastvideo_ui.config import add_server_arguments, settings_from_args
from fastvideo_ui.webhooks import targets
from fastvideo_ui.webhooks.network import CheckedNetwork
from fastvideo_ui.urls import redacted, split_credentials
from fastvideo_ui.webhooks.targets import TargetPolicy, TargetRefused, receiver_at, target_of

EVERYWHERE = TargetPolicy.of(False, ["0.0.0.0/0", "::/0"])  # every private network allowed


def teredo(client: str) -> str:
    """A Teredo address whose client (the address it reaches) is `client`."""
    server = int(ipaddress.IPv4Address("65.54.227.120"))
    obfuscated = ~int(ipaddress.IPv4Address(client)) & 0xFFFFFFFF
    return str(ipaddress.IPv6Address((0x20010000 << 96) | (server << 64) | obfuscated))


# Each is this machine, a metadata service, or one of those in disguise.
LOCAL = [
    "127.0.0.1", "::1", "169.254.169.254", "fe80::1%eth0", "0.0.0.0", "::", "224.0.0.1", "ff02::1",
    "100.100.100.200",  # Alibaba Cloud's metadata
    "168.63.129.16",  # Azure's wireserver
    "fd00:ec2::254",  # AWS's IPv6 metadata
    "fd20:ce::254",  # Google Cloud's IPv6 metadata
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:0:169.254.169.254",  # IPv4-translated
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::127.0.0.1",
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64
    "64:ff9b:1:a9fe:a9:fe00:808:808",  # local-use NAT64 at /48 of 169.254.169.254 (8.8.8.8 at /96)
    "64:ff9b:1:7f00:1:0:808:808",  # local-use NAT64 at /48 of 127.0.1.0 (8.8.8.8 at /96)
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",
    teredo("127.0.0.1"),
    teredo("169.254.169.254"),
]
PRIVATE = ["10.1.2.3", "172.16.5.4", "192.168.1.10", "100.64.0.1", "fd12:3456::1", "fc00::1", "fec0::1",
           "198.18.0.1", "240.0.0.1", "64:ff9b::a00:1", "2002:c0a8:10a::1", teredo("192.168.1.10")]
PUBLIC = ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1", teredo("8.8.8.8"),
          "64:ff9b:1::808:808", "64:ff9b:1:808:8:800::"]  # local-use NAT64 of 8.8.8.8, at /96 and at /48


def nat64(ipv4: str, prefix_length: int, suffix: str = "8.8.8.8") -> str:
    """`ipv4` in the local-use NAT64 prefix at this length, laid out as RFC
    6052's table says (bits 64-71 skipped, and zero), over `suffix` in the last
    32 bits: what a check that reads only those would judge."""
    packed = bytearray(ipaddress.IPv6Address("64:ff9b:1::").packed[:12] + ipaddress.IPv4Address(suffix).packed)
    at = prefix_length // 8
    for octet in ipaddress.IPv4Address(ipv4).packed:
        at += at == 8
        packed[at] = octet
        at += 1
    packed[8] = 0
    return str(ipaddress.IPv6Address(bytes(packed)))


def url(address: str) -> str:
    return f"http://[{address}]/hook" if ":" in address else f"http://{address}/hook"


@pytest.mark.parametrize("address", LOCAL)
def test_this_machine_and_metadata_services_are_refused_in_every_form(address: str) -> None:
    for policy in (TargetPolicy(), EVERYWHERE):  # an allowed network never opens them
        problem = policy.address_problem(address)
        assert problem and problem.endswith("unless started with --webhook-allow-local"), (address, problem)
        if "%" not in address:  # a zone is no part of a URL's host
            assert policy.url_problem(url(address)) == problem
    assert TargetPolicy(allow_local=True).address_problem(address) is None


@pytest.mark.parametrize("length", [48, 56, 64, 96])
@pytest.mark.parametrize("inner", ["127.0.0.1", "169.254.169.254", "100.100.100.200", "10.1.2.3"])
def test_local_use_nat64_is_judged_at_every_prefix_length_rfc_6052_allows(inner: str, length: int) -> None:
    address = nat64(inner, length)
    problem = TargetPolicy().address_problem(address)
    assert problem and problem.startswith(f"{address} carries {inner}"), (address, problem)
    assert TargetPolicy().url_problem(url(address)) == problem
    assert TargetPolicy().address_problem(nat64("8.8.4.4", length)) is None


@pytest.mark.parametrize("address", PRIVATE)
def test_private_and_reserved_addresses_need_an_allowed_network(address: str) -> None:
    problem = TargetPolicy().address_problem(address)
    assert problem and "--webhook-allow-network" in problem, (address, problem)
    assert EVERYWHERE.address_problem(address) is None
    assert TargetPolicy(allow_local=True).address_problem(address) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass_and_a_form_is_judged_by_the_address_it_carries(address: str) -> None:
    assert TargetPolicy().address_problem(address) is None


def test_an_allowed_network_opens_only_itself() -> None:
    policy = TargetPolicy.of(False, ["10.0.0.0/8", "fd00:1::/32"])
    assert policy.address_problem("10.200.0.1") is None
    assert policy.address_problem("fd00:1::5") is None
    assert policy.address_problem("64:ff9b::a00:1") is None  # NAT64 of 10.0.0.1
    assert "--webhook-allow-network" in (policy.address_problem("192.168.0.1") or "")
    assert "--webhook-allow-network" in (policy.address_problem("fd00:2::5") or "")
    # ipaddress tests containment by bits alone: ::/96 holds the bits of every IPv4 address.
    assert "--webhook-allow-network" in (TargetPolicy.of(False, ["::/96"]).address_problem("10.1.2.3") or "")
    with pytest.raises(ValueError, match="'10.0.0.1/8' is not a network"):
        TargetPolicy.of(False, ["10.0.0.1/8"])


def test_this_machines_own_addresses_are_refused_even_inside_an_allowed_network(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = [ipaddress.ip_address(nic.address.split("%")[0]) for nics in psutil.net_if_addrs().values()
            for nic in nics if nic.family in (socket.AF_INET, socket.AF_INET6)]
    for address in real:  # a LAN address of this machine is routed over lo, like 127.0.0.1
        policy = TargetPolicy.of(False, [f"{address}/{address.max_prefixlen}"])
        assert policy.address_problem(str(address)), address
    # A public address on an interface (a cloud VM's, say), read when it is checked.
    fake = SimpleNamespace(family=socket.AF_INET, address="8.8.4.4")
    monkeypatch.setattr(targets.psutil, "net_if_addrs", lambda: {"eth9": [fake]})
    monkeypatch.setattr(targets, "_own", (float("-inf"), frozenset()))
    assert TargetPolicy().address_problem("8.8.4.4") == (
        "8.8.4.4 is an address of this machine; the server refuses it unless started with --webhook-allow-local")
    assert "this machine" in (TargetPolicy().address_problem("64:ff9b::808:404") or "")
    assert TargetPolicy().address_problem("8.8.8.8") is None


def in_new_loop(coroutine: Any) -> Any:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_the_connect_time_check_is_the_same_policy() -> None:
    for address in ("100.100.100.200", "fd00:ec2::254", "64:ff9b::a9fe:a9fe", "10.1.2.3"):
        with pytest.raises(TargetRefused, match=f"^{address} resolves to"):
            in_new_loop(CheckedNetwork(TargetPolicy()).checked_address(address, 80))
    allowed = CheckedNetwork(TargetPolicy.of(False, ["10.0.0.0/8"]))
    assert in_new_loop(allowed.checked_address("10.1.2.3", 80)) == "10.1.2.3"


def parse(*args: str) -> config.Settings:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    return settings_from_args(parser.parse_args(list(args)))


def test_the_webhook_flags_are_checked_and_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit, match="--webhook-url: 10.0.0.5 is a private .*--webhook-allow-network"):
        parse("--webhook-url", "http://10.0.0.5/hook")
    settings = parse("--webhook-url", "http://10.0.0.5/hook", "--webhook-allow-network", "10.0.0.0/8")
    assert settings.webhook_allow_networks == ["10.0.0.0/8"] and settings.webhook_policy().url_problem(
        "http://10.9.9.9/") is None
    with pytest.raises(SystemExit, match="--webhook-allow-network: 'lan' is not a network"):
        parse("--webhook-allow-network", "lan")
    with pytest.raises(SystemExit, match="--webhook-timeout must be more than 0"):
        parse("--webhook-timeout", "0")
    with pytest.raises(SystemExit, match="--webhook-posts-per-target must be 1 or more"):
        parse("--webhook-posts-per-target", "0")
    assert (parse().webhook_timeout_s, parse().webhook_posts_per_target, parse().webhook_allow_networks) == (
        10.0, 2, [])
    monkeypatch.setenv("FASTVIDEO_UI_WEBHOOK_ALLOW_NETWORKS", "10.0.0.0/8, fd00::/8")
    monkeypatch.setenv("FASTVIDEO_UI_WEBHOOK_TIMEOUT", "3.5")
    monkeypatch.setenv("FASTVIDEO_UI_WEBHOOK_POSTS_PER_TARGET", "4")
    settings = parse()
    assert settings.webhook_allow_networks == ["10.0.0.0/8", "fd00::/8"]
    assert settings.webhook_policy().address_problem("fd00::9") is None
    assert (settings.webhook_timeout_s, settings.webhook_posts_per_target) == (3.5, 4)


def test_a_url_is_shown_without_its_credentials_or_query_values() -> None:
    assert redacted("https://user:pa:ss@hooks.example.com:8443/a/b?token=t0k&v=1&bare#frag") == (
        "https://user:***@hooks.example.com:8443/a/b?token=***&v=***&***#***")
    assert redacted("https://only-a-token@hooks.example.com/x") == "https://***@hooks.example.com/x"
    assert redacted("https://hooks.example.com/x") == "https://hooks.example.com/x"
    assert redacted("http://[::1") == "***"
    # What is sent: the credentials as Basic authorization, the URL without them.
    assert split_credentials("https://us%40er:p%3Ass@h.example/x?y=1") == (
        "https://h.example/x?y=1", "Basic dXNAZXI6cDpzcw==")
    assert split_credentials("https://h.example/x") == ("https://h.example/x", None)
    # One receiver, however its URL is written.
    assert target_of("HTTPS://Hooks.Example./a") == target_of("https://hooks.example:443/b") == (
        "https://hooks.example:443")



def test_the_per_receiver_cap_counts_the_address_connected_to() -> None:
    this_machine = {receiver_at(address, 9100) for address in ("127.0.0.1", "127.0.0.8", "::1", "::ffff:127.0.0.1")}
    own = [str(address) for address in targets.own_addresses()]
    assert {receiver_at(address, 9100) for address in own} <= this_machine and len(this_machine) == 1
    assert receiver_at("127.0.0.1", 9101) not in this_machine  # another port, another receiver
    assert receiver_at("2001:db8:1:2::1", 443) == receiver_at("2001:db8:1:2::ffff", 443)  # one /64
    assert receiver_at("2001:db8:1:3::1", 443) != receiver_at("2001:db8:1:2::1", 443)
    assert receiver_at("64:ff9b::808:808", 443) == receiver_at("8.8.8.8", 443) == receiver_at("::ffff:8.8.8.8", 443)
    assert receiver_at("8.8.4.4", 443) != receiver_at("8.8.8.8", 443)


def test_the_server_imports_the_webhook_network_only_to_post() -> None:
    """httpcore is 14 ms of a start; a server that posts no webhook never needs it."""
    import subprocess
    import sys

    code = "import sys, fastvideo_ui.server; print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpcore', " \
           "'httpx') or m == 'fastvideo_ui.webhooks.network'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
