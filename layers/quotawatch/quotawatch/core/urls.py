"""Where an API key may be sent: one rule for the monitors file and the HTTP client."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def may_carry_a_key(url: str) -> bool:
    """HTTPS to any host; plain HTTP only to this machine (a test server or local proxy)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and _is_loopback(parts.hostname)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
