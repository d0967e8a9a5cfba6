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

if TYPE_CHECKING:
    import requests

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
    def __init__(
        self,
        policy: HttpPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        pool_size: int = 10,
    ) -> None:
        self.policy = policy or HttpPolicy()
        self._session = session or _pooled_session(pool_size)
        self._sleep = sleep

    def get_json(self, url: str, headers: dict[str, str]) -> Any:
        target = _require_safe_url(url)
        _require_sendable(headers)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._get_once(target, headers)
            except _Retryable as exc:
                if attempt >= self.policy.max_attempts:
                    raise FetchFailed(
                        exc.kind, f"{exc.message} (after {attempt} attempts)", exc.status, exc.body
                    ) from None
                self._sleep(self._delay(attempt, exc.retry_after))

    def _get_once(self, target: KeyTarget, headers: dict[str, str]) -> Any:
        import requests  # imported on first use: keeps the handler's cold import light

        p = self.policy
        host = target.host
        secrets = _header_secrets(headers)
        try:
            with self._session.get(
                target.url,  # the normalised form that was checked, not the URL as given
                headers={"User-Agent": USER_AGENT, "Accept": "application/json", **headers},
                timeout=(p.connect_timeout, p.read_timeout),
                stream=True,
                allow_redirects=False,
            ) as response:
                status = response.status_code
                refusal = _error_body(response, p) if status in (401, 403, 429) else None
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
                        ErrorKind.CONFIG, f"{host} has no usage endpoint at this address (404); check base_url"
                    )
                if status != 200:
                    raise FetchFailed(ErrorKind.BAD_RESPONSE, f"{host} answered unexpected status {status}")
                body = _read_capped(response, p.max_body_bytes, host)
                if _cut_short(response, body):
                    raise _Retryable(
                        ErrorKind.UNAVAILABLE, f"{host} closed the connection before the answer was complete"
                    )
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
            raise _Retryable(
                ErrorKind.UNAVAILABLE, f"{host} closed the connection before the answer was complete"
            ) from None
        except requests.exceptions.SSLError:  # an untrusted certificate, or a handshake cut off
            raise _Retryable(ErrorKind.UNAVAILABLE, f"TLS handshake with {host} failed") from None
        except requests.Timeout:
            raise _Retryable(ErrorKind.UNAVAILABLE, f"{host} did not answer in time") from None
        except requests.ConnectionError:
            raise _Retryable(ErrorKind.UNAVAILABLE, f"cannot connect to {host}") from None
        except requests.RequestException as exc:
            raise FetchFailed(ErrorKind.UNAVAILABLE, f"request to {host} failed ({type(exc).__name__})") from None
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise FetchFailed(ErrorKind.BAD_RESPONSE, f"{host} answered 200 but not with JSON") from None
        except RecursionError:  # JSON nested deeper than the decoder goes: a depth bomb
            raise FetchFailed(ErrorKind.BAD_RESPONSE, f"{host} answered with JSON nested too deeply") from None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.policy.retry_after_cap)
        # Full jitter: concurrent checks do not retry in lockstep.
        return random.uniform(0, self.policy.backoff_base * 2 ** (attempt - 1))  # noqa: S311 - jitter


# A PEM file of extra roots to trust beside certifi's: set only by the local platform, for
# the test CA of its https fakes. Nothing in a deployment sets it.
CA_BUNDLE_ENV = "QUOTAWATCH_CA_BUNDLE"


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every provider connection, its roots loaded once per container.

    requests' default gives each new connection certifi's whole bundle to parse again:
    about 40 ms of CPU per handshake, and a run after an idle spell opens dozens.
    """
    import certifi
    from urllib3.util.ssl_ import create_urllib3_context

    # urllib3's own defaults: certificates required; it matches the host name itself (also
    # for an IP address, to which no server name is sent).
    context: ssl.SSLContext = create_urllib3_context()  # type: ignore[no-untyped-call]
    context.load_verify_locations(certifi.where())
    extra = os.environ.get(CA_BUNDLE_ENV)
    if extra:
        context.load_verify_locations(extra)
    return context


def _pooled_session(pool_size: int) -> requests.Session:
    """Keep-alive connections for as many concurrent checks as the pool runs, per host."""
    import requests
    import requests.adapters

    class SharedContextAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, ssl_context=shared_ssl_context(), **kwargs)  # type: ignore[no-untyped-call]

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
            # The shared context holds the roots: a bundle path here would be loaded again
            # into it for every new connection. Verification stays required (cert_reqs).
            conn.ca_certs = conn.ca_cert_dir = None

    session = requests.Session()
    adapter = SharedContextAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # Nothing from the environment: no proxy (which would carry keys off the direct path),
    # no CA bundle variable (the shared context decides trust), and never credentials from
    # a ~/.netrc, which requests would otherwise look up on disk for every request.
    session.trust_env = False
    session.auth = _no_credentials
    return session


def _no_credentials(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


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


def _read_capped(response: requests.Response, cap: int, host: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > cap:
            raise FetchFailed(ErrorKind.BAD_RESPONSE, f"{host} answered with more than {cap:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _cut_short(response: requests.Response, body: bytes) -> bool:
    """Fewer bytes than Content-Length promised (urllib3 1.x does not check this itself)."""
    declared = response.headers.get("Content-Length")
    if declared is None or response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return False  # a compressed body is counted after decoding
    try:
        return len(body) < int(declared)
    except ValueError:
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


def _error_body(response: requests.Response, policy: HttpPolicy) -> Any:
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

    requests would raise InvalidHeader or UnicodeEncodeError for most of these (an internal
    error), or send a header the server reads differently. It is the key's fault: config.
    """
    for name, value in headers.items():
        if not isinstance(value, str) or not all(map(_header_char, value)) or _spaced(_credential(name, value)):
            raise FetchFailed(
                ErrorKind.CONFIG,
                "the API key contains characters an HTTP header cannot carry (e.g. a newline)",
            )


def _spaced(value: str) -> bool:
    """Whitespace at either end: requests refuses it at the start, a server strips it at the end."""
    return value != value.strip()


def _header_char(char: str) -> bool:
    """Visible ASCII, a space or a tab, or a visible latin-1 letter (RFC 9110 field-value)."""
    return char == "\t" or " " <= char <= "~" or "\xa1" <= char <= "\xff"
