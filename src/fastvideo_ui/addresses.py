"""Which client addresses count as one client, for every limit kept per
client (wrong tokens, connections) and per webhook receiver.

An address a client can change at will is no identity: a host commonly holds a
whole IPv6 /64, and every process on this machine can connect from any of
127.0.0.0/8 (and ::1). So an IPv6 address counts by its /64, every loopback
address as one "this machine", and an IPv4-mapped IPv6 address as the IPv4
address it maps.
"""

from __future__ import annotations

import ipaddress

THIS_MACHINE = "this machine"
IPV6_GROUP_PREFIX = 64


def address_group(host: str) -> str:
    """The group a peer's address belongs to, as text: `this machine`, an IPv4
    address, or an IPv6 /64. Text that is not an IP address (a Unix socket's
    path, a test client's name) is its own group."""
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return THIS_MACHINE
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_GROUP_PREFIX), strict=False))
    return str(address)
