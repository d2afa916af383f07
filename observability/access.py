"""Who may read ``/metrics``: addresses in METRICS_ALLOWED_IPS, or holders of METRICS_TOKEN.

Pure functions, no Django: tested without a database.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> list[Network]:
    """Addresses and CIDR blocks (``10.0.0.0/8``, ``::1``); ValueError names a bad entry."""
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {entry!r}") from None
    return networks


def client_address(remote_addr: str, forwarded_for: str, num_proxies: int) -> str:
    """The client's address: REMOTE_ADDR, or, behind ``num_proxies`` trusted proxies, the
    address the outermost of them saw (as DRF's throttles count it).

    With no proxies configured X-Forwarded-For is ignored: a client could write anything there.
    """
    if num_proxies > 0 and forwarded_for.strip():
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            chosen = hops[-min(num_proxies, len(hops))]
            # Not an address (a client reaching the server around the proxy, or a broken
            # proxy): the peer's address counts instead, so that nobody escapes the
            # per-address limits by sending junk.
            if _is_address(chosen):
                return chosen
    return remote_addr


def client_network(address: str) -> str:
    """Whose share ``address`` spends: an IPv4 address itself, an IPv6 address its /64 (one
    client usually holds the whole network, so it could otherwise take a new address per
    request), written as the network's first address; "" for what is not an address."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 4:
        return str(ip)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def address_allowed(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def bearer_token_matches(authorization: str, token: str) -> bool:
    """Whether an ``Authorization`` header is ``Bearer <token>``; constant-time comparison."""
    if not token:
        return False
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())
