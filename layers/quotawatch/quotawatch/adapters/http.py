"""One HTTP policy for every provider: timeouts, bounded retries, size cap, HTTPS only.

Failures become a FetchFailed with a classified kind and a message a person can act on.
Messages never carry request headers, and a provider's own error text is masked with
every header value sent (core/masking.py), so the API key cannot leak through them.

The URL is checked and sent in one form (core/urls.py): the host checked is the host
connected to. No proxy from the environment is used: plain http (to loopback only) through
one would carry the key off this machine in clear, and https goes to the provider directly.
Trust is one TLS context loaded once per container (shared_ssl_context).

The client is asynchronous (aiohttp, one event loop): a check run fetches every monitor on
that loop (check.py), at a fraction of a thread pool's CPU a request (docs/benchmarks.md,
"Fetch stage"). Sync callers (the command line, a single monitor) use `fetch`, which runs
the same coroutine on the client's loop.
"""

from __future__ import annotations

import json
import math
import os
import random
import ssl
import threading
import weakref
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from quotawatch import __version__
from quotawatch.core.errors import CheckFailed
from quotawatch.core.masking import mask_and_cut
from quotawatch.core.snapshot import ErrorKind
from quotawatch.core.urls import KeyTarget, RefusedUrl, key_target
from quotawatch.ports import HttpAnswer, HttpRequest

if TYPE_CHECKING:
    import asyncio

    import aiohttp

USER_AGENT = f"QuotaWatch/{__version__} (+usage monitor)"
T = TypeVar("T")


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


# What http.client allowed (the client before this one): a header line of 64 KiB, 100 headers.
MAX_HEADER_LINE = 65536
MAX_HEADERS = 100
# A kept connection is reused for this long idle: past a scheduled run's interval, as the
# connections a thread pool keeps (the server closes it sooner if it wants).
KEEPALIVE_SECONDS = 900.0


class HttpClient:
    """Sends a provider request (GET, or POST with a body) and reads its JSON answer and
    headers, on aiohttp.

    `fetch_async` is the client; it runs on the client's own event loop (`run`), which lives
    as long as the client, with its connections (a warm Lambda keeps both). `fetch` is the
    same for sync callers. `sleep`: where the retries' waits go (tests record them instead).
    """

    def __init__(
        self,
        policy: HttpPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        pool_size: int = 10,
    ) -> None:
        self.policy = policy or HttpPolicy()
        self.pool_size = pool_size  # connections kept open at once, all hosts together
        self._sleep = sleep
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: list[aiohttp.ClientSession] = []  # made on the loop, on first use

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """`work` run to its end on this client's event loop, from a thread with no loop
        running (one caller at a time)."""
        import asyncio  # on first use, as aiohttp: the handler's cold import stays light

        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                weakref.finalize(self, _close, self._loop, self._session)
            return self._loop.run_until_complete(work)

    def fetch(self, request: HttpRequest) -> HttpAnswer:
        return self.run(self.fetch_async(request))

    def get_json(self, url: str, headers: dict[str, str]) -> Any:
        """A GET's JSON body (tools and benches; the check sends an HttpRequest)."""
        return self.fetch(HttpRequest(url, headers)).body

    async def fetch_async(self, request: HttpRequest) -> HttpAnswer:
        """The answer, on the loop `run` runs (where this client's connections live)."""
        # A POST here only reads (a GraphQL query, a report's filter): retried like a GET.
        target = _require_safe_url(request.url)
        _require_sendable(request.headers)
        if request.method not in ("GET", "POST"):
            raise FetchFailed(ErrorKind.CONFIG, f"the method {request.method!r} is not sent (GET or POST)")
        session = self._session[0] if self._session else self._open()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await _send_once(session, target, request, self.policy)
            except _Retryable as exc:
                if attempt >= self.policy.max_attempts:
                    raise FetchFailed(
                        exc.kind, f"{exc.message} (after {attempt} attempts)", exc.status, exc.body
                    ) from None
                delay = self._delay(attempt, exc.retry_after)
                if self._sleep is None:
                    import asyncio

                    await asyncio.sleep(delay)
                else:
                    self._sleep(delay)

    def _open(self) -> aiohttp.ClientSession:
        """Keep-alive connections for as many concurrent checks as the pool runs.

        Nothing from the environment (trust_env off): no proxy (plain http through one
        would carry the key off this machine in clear), no netrc, no CA bundle variable
        (the shared context decides trust). No cookies kept between providers."""
        import asyncio

        import aiohttp  # on first use: the handler's cold import stays light (docs/benchmarks.md)

        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("HttpClient.fetch_async runs on the client's own loop (HttpClient.run)")
        p = self.policy
        connector = aiohttp.TCPConnector(
            limit=self.pool_size, ssl=shared_ssl_context(), keepalive_timeout=KEEPALIVE_SECONDS
        )
        session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=p.connect_timeout, sock_read=p.read_timeout),
            max_line_size=MAX_HEADER_LINE,
            max_field_size=MAX_HEADER_LINE,
            max_headers=MAX_HEADERS,
        )
        self._session.append(session)
        return session

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.policy.retry_after_cap)
        # Full jitter: concurrent checks do not retry in lockstep.
        return random.uniform(0, self.policy.backoff_base * 2 ** (attempt - 1))  # noqa: S311 - jitter


async def _send_once(
    session: aiohttp.ClientSession, target: KeyTarget, request: HttpRequest, p: HttpPolicy
) -> HttpAnswer:
    import aiohttp
    from yarl import URL

    host = target.host
    secrets = _header_secrets(request.headers)
    headers = {**_DEFAULT_HEADERS, **request.headers}
    if request.content_type:
        headers["Content-Type"] = request.content_type
    try:
        response = await session.request(
            request.method,
            URL(target.url, encoded=True),  # the normalised form that was checked, sent as it is
            data=request.body,
            headers=headers,
            allow_redirects=False,
        )
    except aiohttp.ClientConnectorCertificateError:  # not an outage: asking again changes nothing
        raise FetchFailed(ErrorKind.UNAVAILABLE, _untrusted_message(host)) from None
    except aiohttp.ClientSSLError as exc:
        if _untrusted(exc):
            raise FetchFailed(ErrorKind.UNAVAILABLE, _untrusted_message(host)) from None
        raise _Retryable(ErrorKind.UNAVAILABLE, f"TLS handshake with {host} failed") from None  # cut off
    except (TimeoutError, aiohttp.ServerTimeoutError):  # a connect timeout too, as before
        raise _Retryable(ErrorKind.UNAVAILABLE, f"{host} did not answer in time") from None
    except aiohttp.ClientResponseError as exc:  # the answer's head could not be read
        if _oversized_headers(exc):  # asking again gets the same headers
            raise FetchFailed(ErrorKind.BAD_RESPONSE, f"{host} answered with oversized headers") from None
        raise _Retryable(ErrorKind.UNAVAILABLE, f"cannot connect to {host}") from None
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError):  # refused, reset, closed before the head
        raise _Retryable(ErrorKind.UNAVAILABLE, f"cannot connect to {host}") from None
    except (aiohttp.ClientError, ValueError) as exc:
        raise FetchFailed(ErrorKind.UNAVAILABLE, f"request to {host} failed ({type(exc).__name__})") from None
    complete = False
    try:
        status = response.status
        # The bodies a provider's refusal reader may read (providers/base.py read_refusal):
        # a 404 can mean "nothing set up to measure" rather than a wrong address.
        refusal = await _error_body(response, p) if status in (401, 403, 404, 429) else None
        if status == 429:
            raise _Retryable(
                ErrorKind.RATE_LIMITED,
                f"{host} answered 429 Too Many Requests" + _error_detail(refusal, secrets, unless="Too Many Requests"),
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
        body = await _read_capped(response, p.max_body_bytes, host)
        complete = True
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):  # cut short, or not as long as it said
        raise _Retryable(
            ErrorKind.UNAVAILABLE, f"{host} closed the connection before the answer was complete"
        ) from None
    except (TimeoutError, aiohttp.ServerTimeoutError):
        raise _Retryable(ErrorKind.UNAVAILABLE, f"{host} did not answer in time") from None
    finally:
        if complete:
            response.release()  # read to the end: the connection is kept for the next check
        else:
            response.close()  # unread or cut short: the connection is not reused
    try:
        return HttpAnswer(json.loads(body), response.headers, status)  # headers: read in any case
    except (ValueError, UnicodeDecodeError):
        raise FetchFailed(ErrorKind.BAD_RESPONSE, f"{host} answered 200 but not with JSON") from None
    except RecursionError:  # JSON nested deeper than the decoder goes: a depth bomb
        raise FetchFailed(ErrorKind.BAD_RESPONSE, f"{host} answered with JSON nested too deeply") from None


def _close(loop: asyncio.AbstractEventLoop, session: list[aiohttp.ClientSession]) -> None:
    """A client's loop and connections, closed when the client is dropped."""
    import asyncio

    if asyncio._get_running_loop() is not None:  # dropped while another loop runs here: closed beside it
        threading.Thread(target=_close, args=(loop, session), daemon=True).start()
        return
    if session:
        loop.run_until_complete(session[0].close())
    loop.close()


_DEFAULT_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",  # as requests sent it; decoded within the size cap
}

# A PEM file of extra roots to trust beside certifi's: set only by the local platform, for
# the test CA of its https fakes. Nothing in a deployment sets it.
CA_BUNDLE_ENV = "QUOTAWATCH_CA_BUNDLE"


def _untrusted(exc: BaseException) -> bool:
    """Whether a TLS failure is the certificate's verification (aiohttp wraps ssl's error)."""
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

    A new context per connection parses certifi's whole bundle again: about 40 ms of CPU per
    handshake, and a run after an idle spell opens dozens. Certificates are required and
    the host name is matched by the context itself (also an IP address, to which no server
    name is sent): aiohttp leaves both to it.
    """
    import certifi

    context = ssl.create_default_context(cafile=certifi.where())
    extra = os.environ.get(CA_BUNDLE_ENV)
    if extra:
        context.load_verify_locations(extra)
    return context


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


async def _read_capped(response: aiohttp.ClientResponse, cap: int, host: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await response.content.read(65536):  # decoded as it comes: a gzip bomb stops at the cap
        size += len(chunk)
        if size > cap:
            raise FetchFailed(ErrorKind.BAD_RESPONSE, f"{host} answered with more than {cap:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _oversized_headers(exc: BaseException) -> bool:
    """A header line longer than MAX_HEADER_LINE, or more than MAX_HEADERS headers."""
    from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, LineTooLong) or (isinstance(seen, BadHttpMessage) and "headers" in str(seen).lower()):
            return True
        if "too long" in str(seen).lower() or "too many headers" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
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


async def _error_body(response: aiohttp.ClientResponse, policy: HttpPolicy) -> Any:
    """A refusal's JSON body (small, capped), or None when it has none."""
    try:
        return json.loads(await _read_capped(response, min(policy.max_body_bytes, 16384), ""))
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
        target = key_target(url)
    except RefusedUrl as exc:
        raise FetchFailed(ErrorKind.CONFIG, str(exc)) from None
    if _sent_to(target.url) != (target.scheme, target.host, target.port or _DEFAULT_PORTS[target.scheme]):
        # The URL rule reads it as requests and urllib3 do; the sender is aiohttp (yarl).
        refused = RefusedUrl("to a URL whose host the HTTP client's URL parsers read differently")
        raise FetchFailed(ErrorKind.CONFIG, str(refused))
    return target


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _sent_to(url: str) -> tuple[str, str, int | None] | None:
    """The (scheme, host, port) aiohttp connects to for `url` as sent."""
    from yarl import URL

    try:
        sent = URL(url, encoded=True)
    except ValueError:
        return None
    return sent.scheme, (sent.raw_host or "").strip("[]"), sent.port


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
