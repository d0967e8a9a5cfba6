"""Where an API key may be sent: one rule for the monitors file and the HTTP client.

HTTPS to any host but an address that is not public (private, link-local such as the
metadata service at 169.254.169.254, reserved: written in any form the resolver reads,
such as [::ffff:169.254.169.254] or 2852039166); plain HTTP only to a literal loopback
address (127.0.0.0/8 or ::1), for a test server or a local proxy. Not "localhost": a name
can resolve anywhere.

The rule decides on the URL exactly as the HTTP client sends it. requests normalises a
URL with urllib3's parser (`PreparedRequest.prepare_url`: IDNA-encoded host, percent-
encoded path), and its adapter then connects to the host that the standard library's
`urlparse` reads from that normalised string. Reading the raw string with one parser while
the client reads it with another is how "http://169.254.169.254\\@127.0.0.1/" once passed
as loopback while the key went over plain http to 169.254.169.254. So the URL is
normalised once as requests does it; the normalised form must be stable (normalising it
again changes nothing) and both parsers must read the same scheme, host and port from it;
the decision is made on that host, and the client sends that normalised string.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

# A host as it goes on the wire once IDNA-encoded: DNS labels or an IPv4 literal.
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
_IPV4_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
_IPV6_LOOPBACK = ipaddress.ip_address("::1")


class RefusedUrl(ValueError):
    """Why a URL may not carry a key. The text names the URL's scheme or host, never a key."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"refusing to send an API key {reason}")


@dataclass(frozen=True)
class KeyTarget:
    """A URL that may carry a key, as the HTTP client will send it."""

    url: str  # the normalised URL: send exactly this
    scheme: str  # "https", or "http" to a loopback address
    host: str  # as connected to: IDNA-encoded, lower case, an IPv6 address without brackets
    port: int | None


def may_carry_a_key(url: str) -> bool:
    """HTTPS to any host; plain HTTP only to a literal loopback address (see key_target)."""
    try:
        key_target(url)
    except RefusedUrl:
        return False
    return True


def key_target(url: str) -> KeyTarget:
    """`url` normalised as the HTTP client sends it, or RefusedUrl saying why it may not carry a key."""
    if not isinstance(url, str):
        raise RefusedUrl("to a URL that is not text")
    if any(_invisible(char) for char in url):
        raise RefusedUrl("to a URL with whitespace or a control character in it")
    if "\\" in url:
        raise RefusedUrl("to a URL with a backslash in it (URL parsers read it differently)")
    scheme = _scheme_of(url)
    if scheme not in ("http", "https"):
        raise RefusedUrl(f"over {scheme}: use https" if scheme else _NO_SCHEME)
    normalised = _normalise(url)
    if _normalise(normalised) != normalised:
        raise RefusedUrl("to a URL that changes each time it is normalised")
    # What urllib3 reads (requests' own parser) and what requests connects to (urlparse).
    from urllib3.util import parse_url

    try:
        client = parse_url(normalised)
        connect = urlsplit(normalised)
    except ValueError:
        raise RefusedUrl(_UNREADABLE) from None
    if client.auth is not None or "@" in connect.netloc or _has_userinfo(url):
        raise RefusedUrl("to a URL with a user name or password before its host (user:pass@): remove it")
    try:
        connect_port = connect.port
    except ValueError:
        raise RefusedUrl("to a URL whose port is not a number from 0 to 65535") from None
    host = _bare_host(client.host or "")
    if not host:
        raise RefusedUrl("to a URL without a host")
    if not _valid_host(host):
        raise RefusedUrl(f"to the host {host!r}: it is not a host name or an IP address")
    read = ((client.scheme or "").lower(), host, client.port)
    if read != (connect.scheme.lower(), connect.hostname, connect_port):
        raise RefusedUrl("to a URL whose host the HTTP client's two URL parsers read differently")
    if read[0] not in ("http", "https"):
        raise RefusedUrl(f"over {read[0]}: use https")
    if read[0] == "http" and not is_loopback_literal(host):
        raise RefusedUrl(f"over http: use https ({host} is not a loopback address such as 127.0.0.1 or [::1])")
    internal = internal_address(host)
    if internal is not None:
        raise RefusedUrl(f"to {internal}: a private, link-local or metadata address, not a provider's API")
    return KeyTarget(url=normalised, scheme=read[0], host=host, port=client.port)


def is_loopback_literal(host: str) -> bool:
    """127.0.0.0/8 or ::1 written as an address (in its usual form), never a name such as localhost."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address in _IPV4_LOOPBACK and str(address) == host
    return address == _IPV6_LOOPBACK


def internal_address(host: str) -> str | None:
    """The address a host names when it is neither public nor loopback (None: a public
    address, loopback, or a name). Reads the forms the resolver reads too (2852039166,
    0xa9.0xfe.0xa9.0xfe) and an IPv4 address inside IPv6 (::ffff:169.254.169.254)."""
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(_bare_host(host))
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, ValueError):
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return None if address.is_loopback or address.is_global else str(address)


_NO_SCHEME = "to a URL without a scheme: use https://"
_UNREADABLE = "to a URL that cannot be read (a malformed host, port or IDNA name)"


def _invisible(char: str) -> bool:
    """Whitespace, control and format characters: parsers strip, keep or split on them differently."""
    return char.isspace() or unicodedata.category(char).startswith("C")


def _scheme_of(url: str) -> str:
    scheme, colon, _ = url.partition(":")
    if not colon or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return ""
    return scheme.lower()


def _normalise(url: str) -> str:
    """The URL exactly as requests prepares it for sending."""
    import requests

    prepared = requests.PreparedRequest()
    try:
        prepared.prepare_url(url, None)
    except requests.exceptions.MissingSchema:
        raise RefusedUrl(_NO_SCHEME) from None
    except (requests.exceptions.RequestException, ValueError):  # UnicodeError is a ValueError
        raise RefusedUrl(_UNREADABLE) from None
    return str(prepared.url)


def _has_userinfo(url: str) -> bool:
    """Credentials in the URL as written, even empty ones that normalising would drop."""
    from urllib3.util import parse_url

    try:
        return "@" in urlsplit(url).netloc or parse_url(url).auth is not None
    except ValueError:  # both parsers' errors are ValueErrors; the URL normalised, so it is readable
        return True


def _bare_host(host: str) -> str:
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.lower()


def _valid_host(host: str) -> bool:
    if ":" in host:  # only an IPv6 literal has colons; a zone ("%eth0") is refused
        try:
            return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
        except ValueError:
            return False
    return host.isascii() and _HOST_NAME.fullmatch(host) is not None
