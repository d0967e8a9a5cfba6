"""HttpClient's own mechanics against the fake cloudlayer server on loopback: retries and
Retry-After, size caps, netrc, the refusal's detail, a URL refused before any request.

What every provider shares is in test_http_policy.py; where a key may go, in test_urls.py.
Retries never really sleep: the client gets a `sleep` that records the delays it asked for.
"""

from __future__ import annotations

import gzip
import json
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from quotawatch.adapters.http import FetchFailed, HttpClient, HttpPolicy
from quotawatch.core.errors import CheckFailed
from quotawatch.core.snapshot import ErrorKind
from quotawatch_local.fakes import FakeProvider, Reply, always, sequence
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN
from tests.unit.support import POLICY, Recorder, StartFake

KEY = "cl_live_0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def url(fake: FakeProvider, path: str = "/v2/account") -> str:
    return fake.base_url + path


def fetch_failure(
    client: HttpClient, fake: FakeProvider, key: str | None = None, path: str = "/v2/account"
) -> CheckFailed:
    key = key or fake.valid_key
    with pytest.raises(FetchFailed) as caught:
        client.get_json(url(fake, path), {"X-API-Key": key})
    assert key not in str(caught.value)
    return caught.value


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- answers and retries -------------------------------------------------------------------------


def test_credentials_in_a_netrc_file_are_never_sent(
    start_fake: StartFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))  # where requests (and curl) look for one
    fake = start_fake("limit-plan")

    HttpClient(POLICY).get_json(url(fake), {"X-API-Key": fake.valid_key})

    [headers] = fake.requests
    assert "authorization" not in headers
    assert headers["x-api-key"] == fake.valid_key


def test_a_transient_error_then_success(client: HttpClient, start_fake: StartFake, sleep: Recorder) -> None:
    fake = start_fake(sequence(Reply(503, {"error": "busy"}), Reply(200, LIMIT_PLAN)))

    assert client.get_json(url(fake), {"X-API-Key": fake.valid_key}) == LIMIT_PLAN
    assert fake.calls == 2
    assert len(sleep.delays) == 1


# --- auth and configuration: never retried ------------------------------------------------


def test_forbidden_with_a_nested_error_message(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake(always(Reply(403, {"error": {"code": "FORBIDDEN", "message": "Storage  quota\nreached"}})))
    failure = fetch_failure(client, fake)

    assert failure.kind is ErrorKind.AUTH
    assert failure.message == "127.0.0.1 rejected the API key (403: Storage quota reached)"


def test_auth_error_with_an_html_body_has_no_detail(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake(always(Reply(401, b"<html>denied</html>", {"Content-Type": "text/html"})))
    assert fetch_failure(client, fake).message == "127.0.0.1 rejected the API key (401)"


@pytest.fixture
def no_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any request the client would send fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no request may be sent")

    monkeypatch.setattr(aiohttp.ClientSession, "_request", refuse)


@pytest.mark.parametrize(
    "target",
    [
        "http://example.com/v2/account",
        "http://10.0.0.1/v2/account",
        "http://localhost.example.com/v2/account",
        "ftp://127.0.0.1/v2/account",
        "api.cloudlayer.io/v2/account",
    ],
)
@pytest.mark.usefixtures("no_requests")
def test_plain_http_to_a_remote_host_is_refused_before_any_request(target: str, sleep: Recorder) -> None:
    client = HttpClient(POLICY, sleep=sleep)
    with pytest.raises(FetchFailed) as caught:
        client.get_json(target, {"X-API-Key": KEY})

    assert caught.value.kind is ErrorKind.CONFIG
    assert "use https" in caught.value.message
    assert KEY not in caught.value.message


# --- rate limits and server errors: retried, bounded -------------------------------------------


def test_retry_after_is_capped(start_fake: StartFake, sleep: Recorder) -> None:
    fake = start_fake(always(Reply(429, {"error": "slow down"}, {"Retry-After": "3600"})))
    client = HttpClient(HttpPolicy(max_attempts=2, retry_after_cap=2.5), sleep=sleep)
    failure = fetch_failure(client, fake)

    assert failure.kind is ErrorKind.RATE_LIMITED
    assert "(after 2 attempts)" in failure.message
    assert sleep.delays == [2.5]


@pytest.mark.parametrize("retry_after", ["Wed, 21 Oct 2026 07:28:00 GMT", "soon", "nan", "-5"])
def test_unusable_retry_after_falls_back_to_bounded_backoff(
    client: HttpClient, start_fake: StartFake, sleep: Recorder, retry_after: str
) -> None:
    fake = start_fake(always(Reply(429, {}, {"Retry-After": retry_after})))
    assert fetch_failure(client, fake).kind is ErrorKind.RATE_LIMITED

    assert len(sleep.delays) == 2
    for attempt, delay in enumerate(sleep.delays, start=1):
        assert 0 <= delay <= POLICY.backoff_base * 2 ** (attempt - 1)


def test_nothing_listening_is_unavailable(client: HttpClient, sleep: Recorder) -> None:
    with pytest.raises(FetchFailed) as caught:
        client.get_json(f"http://127.0.0.1:{closed_port()}/v2/account", {"X-API-Key": KEY})

    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert caught.value.message == "cannot connect to 127.0.0.1 (after 3 attempts)"
    assert len(sleep.delays) == 2


# --- bodies that are not usable JSON: not retried ----------------------------------------------


def test_size_cap_is_a_policy(start_fake: StartFake, sleep: Recorder) -> None:
    fake = start_fake("limit-plan")
    client = HttpClient(HttpPolicy(max_body_bytes=100), sleep=sleep)
    assert "more than 100 bytes" in fetch_failure(client, fake).message


def test_the_size_cap_counts_the_decompressed_bytes(client: HttpClient, start_fake: StartFake) -> None:
    bomb = gzip.compress(b'{"pad": "' + b"0" * 2_000_000 + b'"}')  # 2 MB as about 2 KB
    fake = start_fake(always(Reply(200, bomb, {"Content-Type": "application/json", "Content-Encoding": "gzip"})))
    failure = fetch_failure(client, fake)

    assert len(bomb) < 10_000
    assert failure.kind is ErrorKind.BAD_RESPONSE
    assert failure.message == "127.0.0.1 answered with more than 1,000,000 bytes"


def test_a_gzipped_answer_is_read(client: HttpClient, start_fake: StartFake) -> None:
    body = gzip.compress(json.dumps(LIMIT_PLAN).encode())
    fake = start_fake(always(Reply(200, body, {"Content-Type": "application/json", "Content-Encoding": "gzip"})))
    assert client.get_json(url(fake), {"X-API-Key": fake.valid_key}) == LIMIT_PLAN


def test_more_than_a_hundred_headers_is_a_bad_answer_asked_once(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake(always(Reply(200, LIMIT_PLAN, {f"x-padding-{i}": "x" for i in range(120)})))
    failure = fetch_failure(client, fake)

    assert failure.kind is ErrorKind.BAD_RESPONSE
    assert failure.message == "127.0.0.1 answered with oversized headers"
    assert fake.calls == 1  # asking again would get the same headers


# --- the key never leaks -----------------------------------------------------------------------


def test_the_providers_text_is_masked_before_it_is_cut_to_length(client: HttpClient, start_fake: StartFake) -> None:
    """Cut first, a key standing at the cut would keep its first characters, and no longer match."""
    fake = start_fake(always(Reply(401, {"error": "x" * 112 + " " + KEY})))
    failure = fetch_failure(client, fake)

    assert failure.message == "127.0.0.1 rejected the API key (401: " + "x" * 112 + " [red...)"
    assert KEY[:4] not in failure.message  # cut first, "cl_live" would have stood at the cut


def test_json_nested_too_deeply_is_a_bad_response(client: HttpClient, start_fake: StartFake) -> None:
    depth_bomb = b"[" * 200_000 + b"]" * 200_000  # under the size cap, past the decoder's depth
    fake = start_fake(always(Reply(200, depth_bomb, {"Content-Type": "application/json"})))
    failure = fetch_failure(client, fake)
    assert failure.kind is ErrorKind.BAD_RESPONSE
    assert failure.message == "127.0.0.1 answered with JSON nested too deeply"
