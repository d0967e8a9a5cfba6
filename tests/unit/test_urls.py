"""Where a key may go: the URL rule decides on the URL exactly as the HTTP client sends it.

The oracle is the client itself: requests prepares the URL, and urllib3's pool manager
picks the connection pool (scheme, host, port) it would connect through, as the rule reads
it; aiohttp (yarl), which sends it, must read the same. Whatever the rule accepts,
the client connects to over https, or over plain http to a loopback address, and to
nothing else. Whatever it refuses, no connection is opened at all.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import aiohappyeyeballs
import pytest
import requests
import urllib3
from hypothesis import example, given, settings
from hypothesis import strategies as st
from yarl import URL

from quotawatch.adapters.http import FetchFailed, HttpClient, HttpPolicy
from quotawatch.core.errors import CheckFailed
from quotawatch.core.snapshot import ErrorKind
from quotawatch.core.urls import KeyTarget, RefusedUrl, key_target, may_carry_a_key
from quotawatch_local.fakes import Reply, always
from tests.unit.support import POLICY, Recorder, StartFake

KEY = "cl_live_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
DEFAULT_PORT = {"http": 80, "https": 443}


def connects_to(url: str) -> tuple[str, str, int | None]:
    """The (scheme, host, port) the HTTP client would open a connection to for `url`."""
    prepared = requests.Request("GET", url).prepare()
    pool = urllib3.PoolManager().connection_from_url(str(prepared.url))
    return pool.scheme, pool.host, pool.port


def sent_to(url: str) -> tuple[str, str, int | None]:
    """Where aiohttp, which sends it, connects for `url` as the client hands it over."""
    sent = URL(url, encoded=True)
    return sent.scheme, (sent.raw_host or "").strip("[]"), sent.port


def refused_by_the_client(url: str) -> bool:
    """The client's own check of a URL, before anything is sent."""
    try:
        HttpClient(POLICY).get_json(url, {"X-API-Key": KEY})
    except FetchFailed as exc:
        return exc.kind is ErrorKind.CONFIG and "read differently" in exc.message
    return False


def loopback(host: str) -> bool:
    """The test's own idea of a loopback literal: 127.0.0.0/8 or ::1 as ipaddress reads them."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address == ipaddress.ip_address("::1") or (address.version == 4 and address.is_loopback)


def refusal(url: str) -> str:
    with pytest.raises(RefusedUrl) as caught:
        key_target(url)
    assert not may_carry_a_key(url)
    return str(caught.value)


# --- examples ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "sent", "host"),
    [
        ("https://api.cloudlayer.io/v2/account", "https://api.cloudlayer.io/v2/account", "api.cloudlayer.io"),
        ("HTTPS://API.Example.COM:8443/a?b=c", "https://api.example.com:8443/a?b=c", "api.example.com"),
        ("https://bücher.de/usage", "https://xn--bcher-kva.de/usage", "xn--bcher-kva.de"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/", "127.0.0.1"),
        ("http://127.8.9.10/usage", "http://127.8.9.10/usage", "127.8.9.10"),
        ("http://[::1]:8080/usage", "http://[::1]:8080/usage", "::1"),
        ("http://127.0.0.1/é?q=ü", "http://127.0.0.1/%C3%A9?q=%C3%BC", "127.0.0.1"),
    ],
)
def test_accepted_urls_are_sent_in_their_normalised_form(url: str, sent: str, host: str) -> None:
    target = key_target(url)

    assert target.url == sent
    assert target.host == host
    assert may_carry_a_key(url)
    scheme, connected, _port = connects_to(target.url)
    assert (scheme, connected) == (target.scheme, host)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        # One parser reads loopback, the client connects elsewhere: the reason for this rule.
        ("http://169.254.169.254\\@127.0.0.1:9/", "backslash"),
        ("http://127.0.0.1:9\\@169.254.169.254/", "backslash"),
        ("https://api.example.com\\@evil.example/", "backslash"),
        ("http://someone:s3cr3t@127.0.0.1/", "user name or password"),
        ("https://tok3n-value@api.example.com/", "user name or password"),
        ("http://@127.0.0.1/", "user name or password"),
        ("http://127.0.0.1%2f@169.254.169.254/", "user name or password"),
        ("http://127.0.0.1 /", "whitespace or a control character"),
        (" http://127.0.0.1/", "whitespace or a control character"),
        ("http://127.0.0.1\t.evil.example/", "whitespace or a control character"),
        ("http://127.0.0.1\x00.evil.example/", "whitespace or a control character"),
        ("https://evil\u200b.example/", "whitespace or a control character"),
        ("https://☃.net/", "cannot be read"),
        ("https://*.example.com/", "cannot be read"),
        ("https:///usage", "cannot be read"),
        ("https://:443/usage", "cannot be read"),
        ("http://127.0.0.1:99999/", "cannot be read"),
        ("https://a..b/", "not a host name"),
        ("http://127.0.0.1%00.evil.example/", "a malformed host"),  # urllib3 2 refuses to read it
        ("ftp://127.0.0.1/", "over ftp: use https"),
        ("file:///etc/passwd", "over file: use https"),
        ("api.cloudlayer.io/v2/account", "without a scheme"),
        # Plain http only to a loopback address, written as one.
        ("http://example.com/", "over http: use https (example.com is not a loopback address"),
        ("http://169.254.169.254/", "169.254.169.254 is not a loopback address"),
        ("http://localhost:9000/", "localhost is not a loopback address"),
        ("http://localhost.example.com/", "localhost.example.com is not"),
        ("http://127.1/", "127.1 is not"),
        ("http://2130706433/", "2130706433 is not"),
        ("http://0x7f.0.0.1/", "0x7f.0.0.1 is not"),
        ("http://127.0.0.1./", "127.0.0.1. is not"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is not"),
        # Over https too, never to an address that is not public: the metadata service first.
        ("https://169.254.169.254/latest/meta-data/", "to 169.254.169.254: a private, link-local or metadata"),
        ("https://[::ffff:169.254.169.254]/", "to 169.254.169.254: a private"),
        ("https://[::ffff:a9fe:a9fe]/", "to 169.254.169.254: a private"),
        ("https://2852039166/", "to 169.254.169.254: a private"),
        ("https://0xa9.0xfe.0xa9.0xfe/", "to 169.254.169.254: a private"),
        ("https://10.1.2.3/", "to 10.1.2.3: a private"),
        ("https://172.16.0.1/", "to 172.16.0.1: a private"),
        ("https://192.168.1.1:8443/", "to 192.168.1.1: a private"),
        ("https://100.64.0.1/", "to 100.64.0.1: a private"),
        ("https://0.0.0.0/", "to 0.0.0.0: a private"),
        ("https://[fd00::1]/", "to fd00::1: a private"),
        ("https://[fe80::1]/", "to fe80::1: a private"),
        ("https://[::]/", "to ::: a private"),
    ],
)
def test_refused_urls_say_why(url: str, says: str) -> None:
    message = refusal(url)

    assert message.startswith("refusing to send an API key ")
    assert says in message
    assert "s3cr3t" not in message  # a password or token in the URL is never repeated
    assert "tok3n" not in message


# --- property: the decision is the client's connection ---------------------------------------------


def mostly(plain: st.SearchStrategy[str], hostile: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`plain` three times in four: with five parts, about a third of the URLs built are clean."""
    return st.integers(0, 3).flatmap(lambda n: hostile if n == 0 else plain)


SCHEMES = mostly(
    st.sampled_from(["http", "https"]), st.sampled_from(["HTTP", "hTTps", "ftp", "file", "ws", "", "http:"])
)
USERINFO = mostly(st.just(""), st.sampled_from(["user@", "user:pw@", "@", ":@", "169.254.169.254\\@", "127.0.0.1%2f@"]))
HOSTS = mostly(
    st.sampled_from(["127.0.0.1", "127.255.0.9", "[::1]", "example.com", "API.example.COM", "bücher.de"])
    | st.ip_addresses().map(lambda ip: f"[{ip}]" if ip.version == 6 else str(ip)),
    st.sampled_from(
        [
            "127.1",
            "0x7f.0.0.1",
            "2130706433",
            "0177.0.0.1",
            "localhost",
            "LOCALHOST",
            "[0:0:0:0:0:0:0:1]",
            "[::ffff:127.0.0.1]",
            "[::1%25lo]",
            "[::1",
            "169.254.169.254",
            "EXAMPLE.com.",
            "ex%41mple.com",
            "127.0.0.1%2e",
            "☃.net",
            "ß.de",
            "xn--bcher-kva.de",
            "a..b",
            "",
            "127.0.0.1.",
            "*.example.com",
            "127.0.0.1 .evil.example",
            "127.0.0.1\t",
            "127.0.0.1\x00.evil.example",
        ]
    )
    | st.text(alphabet="a1.-_:@%[]\\/é☃ß?#", max_size=12),
)
PORTS = mostly(
    st.sampled_from(["", ":0", ":80", ":443", ":8080", ":65535"]), st.sampled_from([":65536", ":", ":8a", ":-1", ":08"])
)
PATHS = mostly(
    st.sampled_from(["", "/", "/usage", "/v1/credits?by_api_key=true", "/a#frag", "/é?q=ü", "/%2e%2e/"]),
    st.sampled_from(["\\@127.0.0.1/", "?@127.0.0.1", "#@127.0.0.1", "/a b"])
    | st.text(alphabet="ab/?#@:%\\é.", max_size=10),
)
BUILT = st.builds(
    lambda scheme, userinfo, host, port, path: f"{scheme}://{userinfo}{host}{port}{path}",
    SCHEMES,
    USERINFO,
    HOSTS,
    PORTS,
    PATHS,
)
# And anything after "http://" in ASCII punctuation, letters and digits (plus some latin-1).
RAW = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_categories=("Cc", "Zs")), max_size=30).map(
    lambda tail: "http://" + tail
)
URLS = BUILT | RAW


@settings(max_examples=600, deadline=None)
@given(URLS)
@example("http://169.254.169.254\\@127.0.0.1:9/")
@example("http://127.0.0.1:9\\@169.254.169.254/")
@example("http://127.0.0.1#@169.254.169.254/")
@example("http://169.254.169.254#@127.0.0.1/")
@example("http://169.254.169.254?@127.0.0.1/")
def test_an_accepted_url_connects_only_where_the_rule_said(url: str) -> None:
    try:
        target = key_target(url)
    except RefusedUrl:
        assert not may_carry_a_key(url)
        return  # nothing is sent: see test_nothing_is_sent_for_a_refused_url

    assert may_carry_a_key(url)
    # What the client sends for the normalised URL is that URL, and it goes where the rule said.
    assert requests.Request("GET", target.url).prepare().url == target.url
    scheme, host, port = connects_to(target.url)
    assert (scheme, host, port) == (target.scheme, target.host, target.port or DEFAULT_PORT[scheme])
    assert scheme == "https" or (scheme == "http" and loopback(host))
    # Handing the client the URL as written would have gone to the same place.
    assert connects_to(url) == (scheme, host, port)
    # aiohttp sends the normalised URL and reads it alike, or the client refuses it first
    # (a port of 0, which urllib3 read as the scheme's default).
    assert sent_to(target.url) == (scheme, host, port) or refused_by_the_client(url)


# --- live: a real server gets what is allowed, and nothing else is sent ------------------------------


class Listener:
    """A loopback socket that counts the connections made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                return count
            conn.close()
            count += 1


@pytest.fixture
def fake_tls() -> bool:
    """The live tests here are of the loopback-http rule: their fakes serve plain http."""
    return False


@pytest.fixture
def listener() -> Iterator[Listener]:
    sock = Listener()
    yield sock
    sock.sock.close()


@pytest.fixture
def dialled(monkeypatch: pytest.MonkeyPatch, listener: Listener) -> list[tuple[str, int]]:
    """Every address the HTTP client dials, recorded; the call is put through to `listener`."""
    addresses: list[tuple[str, int]] = []

    async def record(addr_infos: list[Any], **_options: Any) -> socket.socket:
        addresses.extend((info[4][0], info[4][1]) for info in addr_infos)
        sock = socket.create_connection(("127.0.0.1", listener.port))
        sock.setblocking(False)
        return sock

    monkeypatch.setattr(aiohappyeyeballs, "start_connection", record)  # as aiohttp dials
    return addresses


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254\\@127.0.0.1:{port}/v2/account",
        "http://198.51.100.7\\@127.0.0.1:{port}/v2/account",
        "http://user:pw@127.0.0.1:{port}/v2/account",
        "http://localhost:{port}/v2/account",
        "http://127.0.0.1:{port}\n.example.com/v2/account",
    ],
)
def test_nothing_is_sent_for_a_refused_url(
    url: str, listener: Listener, dialled: list[tuple[str, int]], sleep: Recorder
) -> None:
    client = HttpClient(POLICY, sleep=sleep)
    with pytest.raises(FetchFailed) as caught:
        client.get_json(url.format(port=listener.port), {"X-API-Key": KEY})

    assert caught.value.kind is ErrorKind.CONFIG
    assert KEY not in str(caught.value)
    assert dialled == []
    assert listener.connections() == 0


@pytest.mark.parametrize("form", ["http://127.0.0.1:{port}", "HTTP://127.0.0.1:{port}", "http://127.0.0.1:{port}/"])
def test_a_real_server_receives_an_allowed_request(client: HttpClient, start_fake: StartFake, form: str) -> None:
    fake = start_fake("limit-plan")
    port = fake.base_url.rsplit(":", 1)[1]

    assert client.get_json(form.format(port=port).rstrip("/") + "/v2/account", {"X-API-Key": fake.valid_key})
    assert fake.calls == 1
    assert fake.paths == ["/v2/account"]


def test_the_client_dials_the_host_that_was_checked(dialled: list[tuple[str, int]]) -> None:
    """The URL sent is the normalised one: the dialled address is the checked host."""
    url = "HTTP://127.0.0.1:9/v2/account"
    target = key_target(url)
    client = HttpClient(HttpPolicy(connect_timeout=0.5, read_timeout=0.2, max_attempts=1))
    with pytest.raises(CheckFailed):  # the listener never answers: a timeout
        client.get_json(url, {"X-API-Key": KEY})

    assert set(dialled) == {(target.host, 9)}
    assert target == KeyTarget(url="http://127.0.0.1:9/v2/account", scheme="http", host="127.0.0.1", port=9)


def test_plain_http_never_goes_through_a_proxy_from_the_environment(
    client: HttpClient, start_fake: StartFake, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would carry the key off this machine in clear: plain http goes straight to loopback."""
    proxy = f"http://127.0.0.1:{listener.port}"
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, proxy)
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    fake = start_fake(always(Reply(200, {"ok": True})))

    assert client.get_json(fake.base_url + "/v2/account", {"X-API-Key": fake.valid_key}) == {"ok": True}
    assert fake.calls == 1
    assert listener.connections() == 0


def test_a_percent_encoded_host_is_read_once_and_the_key_goes_where_it_says() -> None:
    target = key_target("https://ex%41mple.com/")

    assert target == KeyTarget(url="https://example.com/", scheme="https", host="example.com", port=None)
    assert connects_to(target.url) == ("https", "example.com", 443)


INTERNAL_NETWORKS = [
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16")
]


@settings(max_examples=300, deadline=None)
@given(
    network=st.sampled_from(INTERNAL_NETWORKS),
    offset=st.integers(0, 2**24 - 1),
    form=st.sampled_from(["{a}", "{n}", "[::ffff:{a}]", "{a}:8443"]),
)
def test_no_form_of_an_internal_address_may_carry_a_key(network: Any, offset: int, form: str) -> None:
    address = network.network_address + offset % network.num_addresses
    host = form.format(a=address, n=int(address))
    assert not may_carry_a_key(f"https://{host}/usage")
    assert refusal(f"https://{host}/usage").endswith("a private, link-local or metadata address, not a provider's API")
