"""One HTTP policy for every provider: timeouts, bounded retries, size cap, HTTPS only.

Failures become a FetchFailed with a classified kind and a message a person can act on.
Messages never carry request headers, and a provider's own error text is masked with
every header value sent (core/masking.py), so the API key cannot leak through them.

The URL is checked and sent in one form (core/urls.py): the host checked is the host
connected to. No proxy from the environment is used: plain http (to loopback only) through
one would carry the key off this machine in clear, and https goes to the provider directly.
Trust is one TLS context loaded once per container (shared_ssl_context).
"""

from __future__ import annotations

import json
import math
import os
import random
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from quotawatch import __version__
from quotawatch.core.errors import CheckFailed
from quotawatch.core.masking import mask_and_cut
from quotawatch.core.snapshot import ErrorKind
from quotawatch.core.urls import KeyTarget, RefusedUrl, key_target
from quotawatch.ports import HttpAnswer, HttpRequest

if TYPE_CHECKING:
    import urllib3

USER_AGENT = f"QuotaWatch/{__version__} (+usage monitor)"


class FetchFailed(CheckFailed):
    """The provider could not be asked, or refused to answer."""


@dataclass(frozen=True)
class HttpPolicy:
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    max_attempts: int = 3
    backoff_base: float = 0.5
    retry_after_cap: float = 10.0
    max_body_bytes: int = 1_000_000


class HttpClient:
    """Sends a provider request (GET, or POST with a body) and reads its JSON answer and
    headers, through urllib3 directly.

    requests added a third of a check's CPU (session merging, hooks, a second URL
    preparation) and nothing used here: the URL is already prepared (core/urls.py), and
    redirects, cookies, proxies and retries are all off.
    """

    def __init__(
        self,
        policy: HttpPolicy | None = None,
        pool: urllib3.PoolManager | None = None,
        sleep: Callable[[float], None] = time.sleep,
        pool_size: int = 10,
    ) -> None:
        self.policy = policy or HttpPolicy()
        self._pool = pool or _pool_manager(pool_size)
        self._sleep = sleep

    def get_json(self, url: str, headers: dict[str, str]) -> Any:
        """A GET's JSON body (tools and benches; the check sends an HttpRequest)."""
        return self.fetch(HttpRequest(url, headers)).body

    def fetch(self, request: HttpRequest) -> HttpAnswer:
        # A POST here only reads (a GraphQL query, a report's filter): retried like a GET.
        target = _require_safe_url(request.url)
        _require_sendable(request.headers)
        if request.method not in ("GET", "POST"):
            raise FetchFailed(ErrorKind.CONFIG, f"the method {request.method!r} is not sent (GET or POST)")
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send_once(target, request)
            except _Retryable as exc:
                if attempt >= self.policy.max_attempts:
                    raise FetchFailed(
                        exc.kind, f"{exc.message} (after {attempt} attempts)", exc.status, exc.body
                    ) from None
                self._sleep(self._delay(attempt, exc.retry_after))

    def _send_once(self, target: KeyTarget, request: HttpRequest) -> HttpAnswer:
        from urllib3 import exceptions as failed  # imported on first use: keeps the cold import light

        p = self.policy
        host = target.host
        secrets = _header_secrets(request.headers)
        headers = {**_DEFAULT_HEADERS, **request.headers}
        if request.content_type:
            headers["Content-Type"] = request.content_type
        try:
            response = self._pool.urlopen(
                request.method,
                target.url,  # the normalised form that was checked, not the URL as given
                body=request.body,
                headers=headers,
                timeout=_timeout(p.connect_timeout, p.read_timeout),
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except failed.SSLError as exc:
            if _untrusted(exc):  # not an outage: asking again changes nothing
                raise FetchFailed(ErrorKind.UNAVAILABLE, _untrusted_message(host)) from None
            raise _Retryable(ErrorKind.UNAVAILABLE, f"TLS handshake with {host} failed") from None  # cut off
        except failed.NewConnectionError:  # before the timeouts: urllib3 makes it one of them
            raise _Retryable(ErrorKind.UNAVAILABLE, f"cannot connect to {host}") from None
        except failed.TimeoutError:
            raise _Retryable(ErrorKind.UNAVAILABLE, f"{host} did not answer in time") from None
        except failed.ProtocolError as exc:
            if _oversized_headers(exc):  # asking again gets the same headers
                raise FetchFailed(ErrorKind.BAD_RESPONSE, f"{host} answered with oversized headers") from None
            raise _Retryable(ErrorKind.UNAVAILABLE, f"cannot connect to {host}") from None
        except failed.HTTPError as exc:
            raise FetchFailed(ErrorKind.UNAVAILABLE, f"request to {host} failed ({type(exc).__name__})") from None
        complete = False
        try:
            status = response.status
            # The bodies a provider's refusal reader may read (providers/base.py read_refusal):
            # a 404 can mean "nothing set up to measure" rather than a wrong address.
            refusal = _error_body(response, p) if status in (401, 403, 404, 429) else None
            if status == 429:
                raise _Retryable(
                    ErrorKind.RATE_LIMITED,
                    f"{host} answered 429 Too Many Requests"
                    + _error_detail(refusal, secrets, unless="Too Many Requests"),
                    _retry_after(response.headers.get("Retry-After")),
                    status,
                    refusal,
                )
            if status >= 500:
                raise _Retryable(
                    ErrorKind.UNAVAILABLE,
                    f"{host} answered {status} (server error)",
                    _retry_after(response.headers.get("Retry-After")),
                )
            if status in (401, 403):
                raise FetchFailed(
                    ErrorKind.AUTH,
                    f"{host} rejected the API key ({status}{_error_detail(refusal, secrets)})",
                    status,
                    refusal,
                )
            if status == 404:
                raise FetchFailed(
                    ErrorKind.CONFIG,
                    f"{host} has no usage endpoint at this address (404); check base_url",
                    status,
                    refusal,
                )
            if status != 200:
                raise FetchFailed(ErrorKind.BAD_RESPONSE, f"{host} answered unexpected status {status}")
            body = _read_capped(response, p.max_body_bytes, host)
            complete = True
        except (failed.ProtocolError, failed.DecodeError):  # urllib3 2 also counts Content-Length
            raise _Retryable(
                ErrorKind.UNAVAILABLE, f"{host} closed the connection before the answer was complete"
            ) from None
        except failed.TimeoutError:
            raise _Retryable(ErrorKind.UNAVAILABLE, f"{host} did not answer in time") from None
        finally:
            if complete:
                response.release_conn()  # read to the end: the connection is kept for the next check
            else:
                response.close()  # unread or cut short: the connection is not reused
        try:
            return HttpAnswer(json.loads(body), response.headers, status)  # headers: read in any case
        except (ValueError, UnicodeDecodeError):
            raise FetchFailed(ErrorKind.BAD_RESPONSE, f"{host} answered 200 but not with JSON") from None
        except RecursionError:  # JSON nested deeper than the decoder goes: a depth bomb
            raise FetchFailed(ErrorKind.BAD_RESPONSE, f"{host} answered with JSON nested too deeply") from None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.policy.retry_after_cap)
        # Full jitter: concurrent checks do not retry in lockstep.
        return random.uniform(0, self.policy.backoff_base * 2 ** (attempt - 1))  # noqa: S311 - jitter


_DEFAULT_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",  # as requests sent it; decoded within the size cap
}

# A PEM file of extra roots to trust beside certifi's: set only by the local platform, for
# the test CA of its https fakes. Nothing in a deployment sets it.
CA_BUNDLE_ENV = "QUOTAWATCH_CA_BUNDLE"


def _untrusted(exc: BaseException) -> bool:
    """Whether a TLS failure is the certificate's verification (urllib3 wraps ssl's error)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        inner = next((a for a in seen.args if isinstance(a, BaseException)), None)
        seen = inner or seen.__cause__ or seen.__context__
    return False


def _untrusted_message(host: str) -> str:
    text = f"the certificate of {host} is not trusted"
    if host in ("127.0.0.1", "::1", "[::1]", "localhost") and not os.environ.get(CA_BUNDLE_ENV):
        # A fake provider on this machine: the command it prints sets this variable.
        text += f"; for the local fakes set {CA_BUNDLE_ENV}=<the CA file>, as the command the fake prints does"
    return text


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every provider connection, its roots loaded once per container.

    A new context per connection (requests' default) parses certifi's whole bundle again:
    about 40 ms of CPU per handshake, and a run after an idle spell opens dozens.
    """
    import certifi
    from urllib3.util.ssl_ import create_urllib3_context

    # urllib3's own defaults: certificates required; it matches the host name itself (also
    # for an IP address, to which no server name is sent).
    context = create_urllib3_context()
    context.load_verify_locations(certifi.where())
    extra = os.environ.get(CA_BUNDLE_ENV)
    if extra:
        context.load_verify_locations(extra)
    return context


def _pool_manager(pool_size: int) -> urllib3.PoolManager:
    """Keep-alive connections for as many concurrent checks as the pool runs, per host.

    Nothing from the environment: no proxy (plain http through one would carry the key off
    this machine in clear) and no CA bundle variable (the shared context decides trust).
    """
    import urllib3

    return urllib3.PoolManager(
        num_pools=32,  # provider hosts kept open at once
        maxsize=pool_size,
        cert_reqs="CERT_REQUIRED",
        ssl_context=shared_ssl_context(),
    )


@lru_cache(maxsize=64)
def _timeout(connect: float, read: float) -> urllib3.Timeout:
    import urllib3

    return urllib3.Timeout(connect=connect, read=read)


class _Retryable(Exception):
    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        retry_after: float | None = None,
        status: int | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.kind = kind
        self.message = message
        self.retry_after = retry_after


def _read_capped(response: urllib3.BaseHTTPResponse, cap: int, host: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.stream(65536):  # decoded a chunk at a time: a gzip bomb stops at the cap
        size += len(chunk)
        if size > cap:
            raise FetchFailed(ErrorKind.BAD_RESPONSE, f"{host} answered with more than {cap:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _oversized_headers(exc: BaseException) -> bool:
    """A header line longer than http.client reads (64 KiB), or more than 100 headers."""
    import http.client

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, http.client.LineTooLong) or "got more than 100 headers" in str(seen):
            return True
        seen = next((a for a in seen.args if isinstance(a, BaseException)), None) or seen.__cause__ or seen.__context__
    return False


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: fall back to backoff
    if math.isnan(seconds):
        return None
    return max(seconds, 0.0)


def _error_body(response: urllib3.BaseHTTPResponse, policy: HttpPolicy) -> Any:
    """A refusal's JSON body (small, capped), or None when it has none."""
    try:
        return json.loads(_read_capped(response, min(policy.max_body_bytes, 16384), ""))
    except Exception:
        return None


def _error_detail(body: Any, secrets: Iterable[str] = (), unless: str = "") -> str:
    """The provider's own error text, when it gave one in JSON, e.g. 'Invalid API Key'.

    Nothing when it only repeats the status (`unless`), which would read twice.
    """
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message") or error.get("code")
        else:
            message = error or body.get("message")
    if isinstance(message, str) and message.strip() and message.strip().lower() != unless.lower():
        # Masked before cutting to length: a cut-off key would no longer match.
        return ": " + mask_and_cut(message, secrets, 120)
    return ""


def _header_secrets(headers: dict[str, str]) -> list[str]:
    """Every header value the caller set: the key, however its provider sends it.

    An Authorization value counts without its scheme ("Bearer "), which is no secret:
    a key shorter than masking's recognisable run is then still masked whole, and the
    text around an echoed key keeps its spaces.
    """
    return [_credential(name, value) for name, value in headers.items()]


def _credential(name: str, value: str) -> str:
    if name.lower() in ("authorization", "proxy-authorization"):
        scheme, space, credential = value.partition(" ")
        if space and scheme.isalpha():
            return credential
    return value


@lru_cache(maxsize=4096)
def _require_safe_url(url: str) -> KeyTarget:
    """Checked once per URL and container: a monitor asks the same address every run."""
    try:
        return key_target(url)
    except RefusedUrl as exc:
        raise FetchFailed(ErrorKind.CONFIG, str(exc)) from None


def _require_sendable(headers: dict[str, str]) -> None:
    """No key with a newline, a control or non-latin-1 character, or a space at either end.

    The HTTP client would raise ValueError or UnicodeEncodeError for most of these (an
    internal error), or send a header the server reads differently. It is the key's fault:
    config.
    """
    for name, value in headers.items():
        if not isinstance(value, str) or not all(map(_header_char, value)) or _spaced(_credential(name, value)):
            raise FetchFailed(
                ErrorKind.CONFIG,
                "the API key contains characters an HTTP header cannot carry (e.g. a newline)",
            )


def _spaced(value: str) -> bool:
    """Whitespace at either end: the client refuses it at the start, a server strips it at the end."""
    return value != value.strip()


def _header_char(char: str) -> bool:
    """Visible ASCII, a space or a tab, or a visible latin-1 letter (RFC 9110 field-value)."""
    return char == "\t" or " " <= char <= "~" or "\xa1" <= char <= "\xff"
