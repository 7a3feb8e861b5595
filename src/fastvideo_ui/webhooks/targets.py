"""Which URLs a webhook may be posted to, checked twice: when a job names one
(its text), and when a delivery connects (every address its name resolves
to). The second check is the one that holds: a name can resolve to 127.0.0.1
at delivery time however it resolved when the job was created, so the
connection is made to the address that was checked, never to the name again
(sender.CheckedNetwork)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

MAX_URL_CHARS = 2000
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class TargetRefused(Exception):
    """The webhook's host is, or resolves to, an address it may not be posted to."""


def address_problem(text: str) -> str | None:
    """Why a webhook may not go to this IP address, or None."""
    address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address (cloud metadata services live there)"
    if address.is_unspecified:
        return f"{address} is the unspecified address (it reaches this machine)"
    if address.is_multicast:
        return f"{address} is a multicast address"
    return None


def url_problem(url: str, allow_local: bool) -> str | None:
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
    if allow_local:
        return None
    if host.rstrip(".").lower() in LOCAL_NAMES or host.rstrip(".").lower().endswith(".localhost"):
        return f"{host} is this machine; the server refuses loopback targets unless started with --webhook-allow-local"
    try:
        problem = address_problem(host)
    except ValueError:  # a name: its addresses are checked when the delivery connects
        return None
    if problem:
        return f"{problem}; the server refuses it unless started with --webhook-allow-local"
    return None
