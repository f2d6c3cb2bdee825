"""Who is asking: the client a throttle counts against.

The TCP peer is the client, unless the peer is a configured trusted proxy
(``PROACTAX_PORTAL_TRUSTED_PROXIES``): then ``X-Forwarded-For`` is read from the right,
skipping trusted proxies, and the first address no trusted proxy vouches for is the
client. A forwarded header from anyone else is ignored (it is the client's to forge).
IPv6 clients are grouped by their /64: one subscriber usually holds a whole /64, so
counting single addresses would give an attacker 2**64 fresh clients.
"""

from __future__ import annotations

import functools
import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def trusted_networks(setting: str) -> tuple[Network, ...]:
    """Parse the setting (comma-separated addresses or CIDR networks); ValueError names it."""
    networks: list[Network] = []
    for part in setting.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"PROACTAX_PORTAL_TRUSTED_PROXIES: {part!r} is not an address or a network"
            ) from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: tuple[Network, ...]
) -> bool:
    return any(address.version == n.version and address in n for n in nets)


def client_address(peer: str | None, forwarded_for: list[str], trusted: str) -> str:
    """The client as a throttle key: an IPv4 address, or an IPv6 /64 network."""
    nets = trusted_networks(trusted)
    address = _address(peer or "")
    if address is None:
        return "unknown"
    if nets and _trusted(address, nets):
        hops = [h for header in forwarded_for for h in header.split(",") if h.strip()]
        for hop in reversed(hops):
            parsed = _address(hop)
            if parsed is None:
                break  # garbage from beyond the last proxy: the last good hop stands
            address = parsed
            if not _trusted(parsed, nets):
                break
    return group(address)


def group(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)
