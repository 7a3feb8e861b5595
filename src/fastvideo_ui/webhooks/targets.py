"""Which URLs a webhook may be posted to, checked twice: when a job names one
(its text), and when a delivery connects (every address its name resolves
to). The second check is the one that holds: a name can resolve to 127.0.0.1
at delivery time however it resolved when the job was created, so the
connection is made to the address that was checked, never to the name again
(network.CheckedNetwork). One TargetPolicy makes both checks.

How a URL is shown, redacted, lives in urls.py: the job JSON shows it too."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil

from ..addresses import THIS_MACHINE, address_group

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_CHARS = 2000
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
ALLOW_LOCAL = "--webhook-allow-local"
ALLOW_NETWORK = "--webhook-allow-network"

# Cloud metadata services that are not link-local (169.254.169.254, and ECS's
# 169.254.170.2, are refused as link-local). Refused even inside an allowed
# network: an operator who opens a private range opens receivers, not these.
METADATA = {
    ipaddress.ip_address("100.100.100.200"): "Alibaba Cloud's metadata service",
    ipaddress.ip_address("168.63.129.16"): "Azure's wireserver (a metadata service)",
    ipaddress.ip_address("fd00:ec2::254"): "AWS's IPv6 metadata service",
    ipaddress.ip_address("fd20:ce::254"): "Google Cloud's IPv6 metadata service",
}

# IPv6 forms that carry an IPv4 address in their last 32 bits, and reach it
# through a translator or tunnel (IPv4-mapped, 6to4 and Teredo have
# ipaddress properties of their own).
_CARRIES_LAST_32 = (
    (ipaddress.IPv6Network("64:ff9b::/96"), "NAT64"),
    (ipaddress.IPv6Network("::ffff:0:0:0/96"), "IPv4-translated"),
    (ipaddress.IPv6Network("::/96"), "IPv4-compatible"),
)
# The local-use NAT64 prefix (RFC 8215): its operator may translate with a
# prefix of any length RFC 6052 allows within it, and each length reads the
# IPv4 address from other bits, so every reading is where a post may go.
LOCAL_USE_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
LOCAL_USE_NAT64_LENGTHS = (48, 56, 64, 96)
# "This network": no translator delivers a packet there (Linux drops it as a
# martian), and the readings of a local-use address at the lengths its
# operator does not use are mostly zeros, so they name nothing to refuse.
_NOWHERE = ipaddress.IPv4Network("0.0.0.0/8")

# This machine's addresses are read again after this long: interfaces come and
# go (a VPN, a container bridge), and reading them costs a system call per check.
OWN_ADDRESSES_TTL_S = 5.0
_own: tuple[float, frozenset[IPAddress]] = (float("-inf"), frozenset())


class TargetRefused(Exception):
    """The webhook's host is, or resolves to, an address it may not be posted to."""


def own_addresses() -> frozenset[IPAddress]:
    """Every address of this machine's interfaces (read at most every few seconds)."""
    global _own
    read_at, addresses = _own
    if time.monotonic() - read_at > OWN_ADDRESSES_TTL_S:
        addresses = frozenset(
            ipaddress.ip_address(nic.address.split("%")[0])
            for nics in psutil.net_if_addrs().values() for nic in nics
            if nic.family in (socket.AF_INET, socket.AF_INET6))
        _own = (time.monotonic(), addresses)
    return addresses


def rfc6052_embedded(address: ipaddress.IPv6Address, prefix_length: int) -> ipaddress.IPv4Address:
    """The IPv4 address an IPv6 one carries under a NAT64 prefix of this
    length (RFC 6052, 2.2): its 32 bits follow the prefix, skipping bits 64-71."""
    packed = address.packed
    start = prefix_length // 8
    return ipaddress.IPv4Address((packed[start:8] + packed[9:])[:4] if prefix_length < 96 else packed[12:])


def carried(address: IPAddress) -> list[tuple[ipaddress.IPv4Address, str]]:
    """The IPv4 addresses an IPv6 address embeds, each with the form's name.
    A packet to the IPv6 address is delivered to one of them."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[tuple[ipaddress.IPv4Address, str]] = []
    if address.ipv4_mapped is not None:
        found.append((address.ipv4_mapped, "IPv4-mapped"))
    if address.sixtofour is not None:
        found.append((address.sixtofour, "6to4"))
    if address.teredo is not None:
        server, client = address.teredo
        found += [(client, "Teredo client"), (server, "Teredo server")]
    for network, form in _CARRIES_LAST_32:
        if address in network:
            found.append((ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), form))
            break
    if address in LOCAL_USE_NAT64:
        readings = ((rfc6052_embedded(address, length), f"local-use NAT64 at /{length}")
                    for length in LOCAL_USE_NAT64_LENGTHS)
        found += [(inner, form) for inner, form in readings if inner not in _NOWHERE]
    return found


def _local_problem(address: IPAddress) -> str | None:
    """Why this address is this machine, or a service that trusts it."""
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address (cloud metadata services live there)"
    if address.is_unspecified:
        return f"{address} is the unspecified address (it reaches this machine)"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address in METADATA:
        return f"{address} is {METADATA[address]}"
    if address in own_addresses():
        return f"{address} is an address of this machine"
    return None


def is_public(address: IPAddress) -> bool:
    """Globally reachable: not private, shared (100.64.0.0/10), reserved,
    documentation, benchmarking or site-local."""
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False
    return address.is_global and not address.is_reserved and not address.is_multicast


@dataclass(frozen=True)
class TargetPolicy:
    """Where webhooks may go. By default only to public addresses that are not
    this machine's; `allowed_networks` opens private ranges (a LAN receiver),
    and `allow_local` lifts every refusal (a receiver on this machine)."""

    allow_local: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def of(cls, allow_local: bool, networks: Iterable[str]) -> TargetPolicy:
        """From the flags: CIDR networks as text (ValueError naming a bad one)."""
        return cls(allow_local, tuple(_network(text) for text in networks))

    def _allowed(self, address: IPAddress) -> bool:
        # The version check matters: ipaddress tests containment by bits alone.
        return any(address.version == net.version and address in net for net in self.allowed_networks)

    def address_problem(self, text: str) -> str | None:
        """Why a webhook may not go to this IP address, or None."""
        if self.allow_local:
            return None
        address = ipaddress.ip_address(text.split("%")[0])
        inner = carried(address)
        for candidate, form in [(address, ""), *inner]:
            problem = _local_problem(candidate)
            if problem:
                within = f"{address} carries {candidate} ({form}): " if form else ""
                return f"{within}{problem}; the server refuses it unless started with {ALLOW_LOCAL}"
        # A form that carries an IPv4 address is judged by that address: it is where the post goes.
        destinations: list[IPAddress] = [found for found, _ in inner] or [address]
        for candidate in destinations:
            if not is_public(candidate) and not self._allowed(candidate):
                within = f"{address} carries {candidate}: " if candidate != address else ""
                return (f"{within}{candidate} is a private or reserved address; the server refuses it unless "
                        f"started with {ALLOW_NETWORK} naming a network that holds it")
        return None

    def url_problem(self, url: str) -> str | None:
        """Why this text is not a webhook URL this server will post to, or None."""
        if len(url) > MAX_URL_CHARS:
            return f"must be at most {MAX_URL_CHARS} characters"
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            return f"is not a valid URL ({exc})"
        if parts.scheme not in ("http", "https"):
            return "must be an http:// or https:// URL"
        host = parts.hostname
        if not host:
            return "must name a host"
        if port == 0:
            return "must not use port 0"
        if self.allow_local:
            return None
        if host.rstrip(".").lower() in LOCAL_NAMES or host.rstrip(".").lower().endswith(".localhost"):
            return f"{host} is this machine; the server refuses loopback targets unless started with {ALLOW_LOCAL}"
        try:
            return self.address_problem(host)
        except ValueError:  # a name: its addresses are checked when the delivery connects
            return None


def _network(text: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text.strip())
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a network ({exc}); write one like 10.0.0.0/8 or fd00::/8") from None


def target_of(url: str) -> str:
    """The receiver a URL names, scheme://host:port as spelled: the sender's
    first, cheap filter (receiver_at is what the per-receiver cap counts)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return url
    host = (parts.hostname or "").rstrip(".")
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def receiver_at(address: str, port: int) -> str:
    """The receiver a post connects to, as the per-receiver cap counts it: the
    checked address and port, not the URL's spelling of them. Every address of
    this machine is one receiver (with --webhook-allow-local, 127.0.0.2 and
    localhost reach the same server as 127.0.0.1), an IPv6 address counts by
    its /64 (a wildcard DNS name can name a fresh one in it per job), and a
    form that carries an IPv4 address (NAT64, IPv4-mapped) by that address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    inner = carried(ip) if not ip.is_loopback else []  # ::1 is in ::/96, but carries no 0.0.0.1
    if inner:
        ip = inner[0][0]
    group = THIS_MACHINE if ip in own_addresses() else address_group(str(ip))
    return f"{group} port {port}"

