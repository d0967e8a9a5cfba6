"""A threaded HTTP(S) server on a free loopback port, served in the background.

The fake providers and the AWS call counter are both one of these with their own handler.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LoopbackServer:
    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._server = server_class(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.tls = tls
        if tls is not None:
            _serve_tls(self._server, tls)
        # A short poll interval: stopping waits for it, and tests start many servers.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _serve_tls(server: ThreadingHTTPServer, context: ssl.SSLContext) -> None:
    """Each connection's handshake runs in its own request thread, not in the accepting
    loop, so that one client stalling in its handshake holds up no other connection."""
    plain = server.finish_request

    def finish_request(request: Any, client_address: Any) -> None:
        try:
            wrapped = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that gave up or distrusts the certificate: nothing to answer
        try:
            plain(wrapped, client_address)
        finally:
            with contextlib.suppress(OSError):
                wrapped.close()

    server.finish_request = finish_request  # type: ignore[method-assign]
