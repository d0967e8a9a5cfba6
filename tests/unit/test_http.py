"""HttpClient against the real fake cloudlayer server on loopback: every failure classified.

Retries never really sleep: the client gets a `sleep` that records the delays it asked for.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from quotawatch.adapters.http import USER_AGENT, FetchFailed, HttpClient, HttpPolicy
from quotawatch.core.errors import CheckFailed
from quotawatch.core.snapshot import ErrorKind
from quotawatch_local.fakes import FakeProvider, Reply, always, sequence
from quotawatch_local.fakes import cloudlayer as fake_cloudlayer
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN
from tests.unit.support import POLICY, Recorder, StartFake

KEY = "cl_live_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
SCENARIOS = fake_cloudlayer.scenarios(slow_seconds=2)


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


# --- answers -----------------------------------------------------------------------------------


def test_documented_example_returns_the_body(client: HttpClient, start_fake: StartFake, sleep: Recorder) -> None:
    fake = start_fake("limit-plan")

    assert client.get_json(url(fake), {"X-API-Key": fake.valid_key}) == LIMIT_PLAN
    assert fake.calls == 1
    assert sleep.delays == []


def test_request_headers(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake("limit-plan")
    client.get_json(url(fake), {"X-API-Key": fake.valid_key})

    [headers] = fake.requests
    assert headers["user-agent"] == USER_AGENT
    assert headers["user-agent"].startswith("QuotaWatch/")
    assert headers["accept"] == "application/json"
    assert headers["x-api-key"] == fake.valid_key


def test_credentials_in_a_netrc_file_are_never_sent(
    start_fake: StartFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))  # where requests looks for one
    fake = start_fake("limit-plan")

    HttpClient(POLICY).get_json(url(fake), {"X-API-Key": fake.valid_key})

    [headers] = fake.requests
    assert "authorization" not in headers
    assert headers["x-api-key"] == fake.valid_key


def test_not_an_object_is_returned_for_the_parser_to_reject(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake("not-an-object")
    assert client.get_json(url(fake), {"X-API-Key": fake.valid_key}) == [1, 2, 3]


def test_a_transient_error_then_success(client: HttpClient, start_fake: StartFake, sleep: Recorder) -> None:
    fake = start_fake(sequence(Reply(503, {"error": "busy"}), Reply(200, LIMIT_PLAN)))

    assert client.get_json(url(fake), {"X-API-Key": fake.valid_key}) == LIMIT_PLAN
    assert fake.calls == 2
    assert len(sleep.delays) == 1


# --- auth and configuration: never retried ------------------------------------------------


def test_wrong_key_is_auth_with_the_providers_message(
    client: HttpClient, start_fake: StartFake, sleep: Recorder
) -> None:
    fake = start_fake("limit-plan")
    failure = fetch_failure(client, fake, key="not-the-key")

    assert failure.kind is ErrorKind.AUTH
    assert failure.message == "127.0.0.1 rejected the API key (401: Unauthorized)"
    assert len(fake.requests) == 1
    assert sleep.delays == []


def test_forbidden_with_a_nested_error_message(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake(always(Reply(403, {"error": {"code": "FORBIDDEN", "message": "Storage  quota\nreached"}})))
    failure = fetch_failure(client, fake)

    assert failure.kind is ErrorKind.AUTH
    assert failure.message == "127.0.0.1 rejected the API key (403: Storage quota reached)"


def test_auth_error_with_an_html_body_has_no_detail(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake(always(Reply(401, b"<html>denied</html>", {"Content-Type": "text/html"})))
    assert fetch_failure(client, fake).message == "127.0.0.1 rejected the API key (401)"


def test_wrong_path_is_a_config_error(client: HttpClient, start_fake: StartFake, sleep: Recorder) -> None:
    fake = start_fake("limit-plan")
    failure = fetch_failure(client, fake, path="/v3/account")

    assert failure.kind is ErrorKind.CONFIG
    assert "404" in failure.message
    assert "base_url" in failure.message
    assert sleep.delays == []


def test_redirects_are_not_followed(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake(always(Reply(302, {}, {"Location": "http://example.com/steal"})))
    failure = fetch_failure(client, fake)

    assert failure.kind is ErrorKind.BAD_RESPONSE
    assert "unexpected status 302" in failure.message
    assert fake.calls == 1


class NoRequests(requests.Session):
    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        raise AssertionError("no request may be sent")


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
def test_plain_http_to_a_remote_host_is_refused_before_any_request(target: str, sleep: Recorder) -> None:
    client = HttpClient(POLICY, session=NoRequests(), sleep=sleep)
    with pytest.raises(FetchFailed) as caught:
        client.get_json(target, {"X-API-Key": KEY})

    assert caught.value.kind is ErrorKind.CONFIG
    assert "use https" in caught.value.message
    assert KEY not in caught.value.message


# --- rate limits and server errors: retried, bounded -------------------------------------------


def test_rate_limited_honours_retry_after(client: HttpClient, start_fake: StartFake, sleep: Recorder) -> None:
    fake = start_fake("rate-limited")
    failure = fetch_failure(client, fake)

    assert failure.kind is ErrorKind.RATE_LIMITED
    assert failure.message == "127.0.0.1 answered 429 Too Many Requests (after 3 attempts)"
    assert sleep.delays == [1.0, 1.0]  # Retry-After: 1, between the three attempts
    assert fake.calls == 3


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


def test_server_error_is_unavailable_after_jittered_retries(
    client: HttpClient, start_fake: StartFake, sleep: Recorder
) -> None:
    fake = start_fake("server-error")
    failure = fetch_failure(client, fake)

    assert failure.kind is ErrorKind.UNAVAILABLE
    assert failure.message == "127.0.0.1 answered 500 (server error) (after 3 attempts)"
    assert fake.calls == 3
    assert len(sleep.delays) == 2
    assert 0 <= sleep.delays[0] <= 0.5
    assert 0 <= sleep.delays[1] <= 1.0


def test_html_error_page_from_a_proxy_is_unavailable(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake("html-error-page")
    failure = fetch_failure(client, fake)

    assert failure.kind is ErrorKind.UNAVAILABLE
    assert "502" in failure.message
    assert "<html" not in failure.message


def test_slow_provider_is_unavailable(start_fake: StartFake, sleep: Recorder) -> None:
    fake = start_fake("slow")  # answers after 2 s; the client waits 0.5 s
    client = HttpClient(HttpPolicy(connect_timeout=0.5, read_timeout=0.5, max_attempts=2), sleep=sleep)
    started = time.monotonic()
    failure = fetch_failure(client, fake)

    assert failure.kind is ErrorKind.UNAVAILABLE
    assert failure.message == "127.0.0.1 did not answer in time (after 2 attempts)"
    assert time.monotonic() - started < 1.9
    assert len(sleep.delays) == 1


def test_nothing_listening_is_unavailable(client: HttpClient, sleep: Recorder) -> None:
    with pytest.raises(FetchFailed) as caught:
        client.get_json(f"http://127.0.0.1:{closed_port()}/v2/account", {"X-API-Key": KEY})

    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert caught.value.message == "cannot connect to 127.0.0.1 (after 3 attempts)"
    assert len(sleep.delays) == 2


def test_truncated_answer_is_unavailable_and_retried(client: HttpClient, start_fake: StartFake) -> None:
    """Content-Length promises more than arrives: the connection broke, the data is not bad."""
    fake = start_fake("truncated")
    failure = fetch_failure(client, fake)

    assert failure.kind is ErrorKind.UNAVAILABLE
    assert "closed the connection before the answer was complete" in failure.message
    assert fake.calls == 3


# --- bodies that are not usable JSON: not retried ----------------------------------------------


@pytest.mark.parametrize("scenario", ["malformed-json", "html-200"])
def test_non_json_answer_is_a_bad_response(
    client: HttpClient, start_fake: StartFake, sleep: Recorder, scenario: str
) -> None:
    fake = start_fake(scenario)
    failure = fetch_failure(client, fake)

    assert failure.kind is ErrorKind.BAD_RESPONSE
    assert failure.message == "127.0.0.1 answered 200 but not with JSON"
    assert fake.calls == 1
    assert sleep.delays == []


def test_huge_answer_is_cut_off(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake("huge")
    failure = fetch_failure(client, fake)

    assert failure.kind is ErrorKind.BAD_RESPONSE
    assert failure.message == "127.0.0.1 answered with more than 1,000,000 bytes"


def test_size_cap_is_a_policy(start_fake: StartFake, sleep: Recorder) -> None:
    fake = start_fake("limit-plan")
    client = HttpClient(HttpPolicy(max_body_bytes=100), sleep=sleep)
    assert "more than 100 bytes" in fetch_failure(client, fake).message


# --- the key never leaks -----------------------------------------------------------------------


FAILING = [
    "unauthorized",
    "rate-limited",
    "server-error",
    "malformed-json",
    "html-error-page",
    "html-200",
    "truncated",
    "huge",
]


@pytest.mark.parametrize("scenario", FAILING)
def test_the_key_is_in_no_error_message(start_fake: StartFake, scenario: str) -> None:
    fake = start_fake(scenario)
    client = HttpClient(HttpPolicy(max_attempts=1))
    with pytest.raises(CheckFailed) as caught:
        client.get_json(url(fake), {"X-API-Key": fake.valid_key})

    assert fake.valid_key not in str(caught.value)
    assert fake.valid_key not in repr(caught.value.args)
    assert caught.value.__cause__ is None  # raised `from None`: no chained exception carrying the request


@pytest.mark.parametrize(
    "key", [KEY, "k" * 200, "eyJhbGciOiJIUzI1NiJ9." + "A" * 180 + ".sig"], ids=["plain", "long", "jwt-like"]
)
def test_a_key_echoed_by_the_provider_is_redacted(client: HttpClient, start_fake: StartFake, key: str) -> None:
    fake = start_fake(always(Reply(401, {"error": f"Invalid API Key: {key}"})), key=key)
    failure = fetch_failure(client, fake, key=key)

    assert failure.kind is ErrorKind.AUTH
    assert "Invalid API Key: [redacted]" in failure.message
    assert key[:16] not in failure.message  # not even a cut-off part of it
