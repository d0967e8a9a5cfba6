"""Fake providers: real HTTPS servers on loopback that answer like the real usage APIs.

They serve https with the process's test CA (fakes/tls.py), as real providers do; a
client trusts it through QUOTAWATCH_CA_BUNDLE. `tls=False` serves plain http, for the
tests of the loopback-http rule.

Each answer comes from a scenario: the provider's documented examples, usage that climbs
from call to call, and the failures real APIs show (errors, slowness, garbage).
"""

from __future__ import annotations

import contextlib
import json
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from quotawatch_local.fakes import tls as test_tls
from quotawatch_local.loopback import LoopbackServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Further pages, by the query parameter that asks for one ("page=page_2"): a request
    # carrying it gets that page instead.
    pages: dict[str, Reply] = field(default_factory=dict)

    def page(self, path: str) -> Reply:
        asked = {f"{k}={v}" for k, v in parse_qsl(urlsplit(path).query)}
        return next((reply for name, reply in self.pages.items() if name in asked), self)


Scenario = Callable[[int], Reply]  # call number (1, 2, ...) -> reply


@dataclass(frozen=True)
class ProviderApi:
    """How a provider's usage endpoint looks from outside."""

    name: str
    paths: tuple[str, ...]
    auth_header: str
    auth_prefix: str  # "" for a bare key, "Bearer " for bearer tokens
    unauthorized: Reply
    # Headers a request must carry besides the key (an API version), else 400.
    required_headers: dict[str, str] = field(default_factory=dict)
    # Another way of carrying the key (a query parameter, HTTP basic): (path and query,
    # headers in lower case, the valid key) -> whether the request carries it.
    carries_key: Callable[[str, dict[str, str], str], bool] | None = None


class FakeProvider(LoopbackServer):
    def __init__(self, api: ProviderApi, valid_key: str, scenario: Scenario, *, tls: bool = True) -> None:
        self.api = api
        self.valid_key = valid_key
        self.scenario = scenario
        self.calls = 0  # authorised calls to the usage endpoint
        self.requests: list[dict[str, str]] = []  # headers of every request, for assertions
        self.paths: list[str] = []  # path and query of every request
        self.bodies: list[bytes] = []  # the body of every POST
        self._lock = threading.Lock()
        super().__init__(self._handler_class(), _QuietServer, test_tls.server_context() if tls else None)

    @property
    def base_url(self) -> str:
        return self.url

    def _reply_for(self, path: str, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(headers)
            self.paths.append(path)
            if path.split("?", 1)[0] not in self.api.paths:
                return Reply(404, {"error": "Not Found"})
            wanted = self.api.required_headers
            if any(headers.get(name.lower()) != value for name, value in wanted.items()):
                return Reply(400, {"error": {"message": f"required headers: {', '.join(wanted)}"}})
            if self.api.carries_key is not None:
                if not self.api.carries_key(path, headers, self.valid_key):
                    return self.api.unauthorized
            elif headers.get(self.api.auth_header.lower()) != self.api.auth_prefix + self.valid_key:
                return self.api.unauthorized
            self.calls += 1
            number = self.calls
        return self.scenario(number).page(path)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: with Nagle's algorithm the body would
            # wait for the client's delayed ACK (40 ms on Linux) on every kept-alive request.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                with fake._lock:
                    fake.bodies.append(self.rfile.read(length))
                self.do_GET()

            def do_GET(self) -> None:
                reply = fake._reply_for(self.path, {k.lower(): v for k, v in self.headers.items()})
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # A client that gave up (timeout) closes early, as a real server would see it.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)
                if headers.get("Connection") == "close":
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests and the demo print what matters

        return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (timeout, size cap) is expected here, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, ssl.SSLError)):
            super().handle_error(request, client_address)


# --- scenarios shared by all providers -------------------------------------------------


def always(reply: Reply) -> Scenario:
    return lambda _call: reply


def sequence(*replies: Reply) -> Scenario:
    """The given replies in turn; the last one repeats."""
    return lambda call: replies[min(call, len(replies)) - 1]


HTML_ERROR_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


def common_faults(slow_seconds: float) -> dict[str, Scenario]:
    """Failures every provider can show, whatever its documented errors."""
    return {
        "rate-limited": always(Reply(429, {"error": "Too Many Requests"}, {"Retry-After": "1"})),
        "server-error": always(Reply(500, {"error": "Internal Server Error"})),
        "slow": always(Reply(200, {}, delay=slow_seconds)),
        "malformed-json": always(Reply(200, b'{"calls": 842, "callsLimit": ')),
        "html-error-page": always(Reply(502, HTML_ERROR_PAGE, {"Content-Type": "text/html"})),
        "html-200": always(Reply(200, HTML_ERROR_PAGE, {"Content-Type": "text/html"})),
        "truncated": always(Reply(200, b'{"calls": 842, "callsLim', {"Content-Length": "400", "Connection": "close"})),
        "huge": always(Reply(200, b'{"padding": "' + b"x" * 3_000_000 + b'"}')),
        "not-an-object": always(Reply(200, [1, 2, 3])),
    }
