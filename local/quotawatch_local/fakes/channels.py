"""Fake receivers for the channels beside the topic: one HTTPS server on loopback that
answers each channel type at its own path the way the real service does.

- /slack/...            Slack incoming webhook: 200 "ok" (text/plain); 400 "invalid_payload"
                         for a body without text or blocks;
- /teams/...            a Teams Workflows webhook: 202 Accepted, empty body;
- /discord/...          a Discord webhook: 204 No Content; 400 for an empty message;
- /pagerduty/v2/enqueue PagerDuty Events API v2: 202 {"status": "success", "message":
                         "Event processed", "dedup_key": ...}; 400 "invalid event" for an
                         unknown routing key, a bad event_action or a trigger without payload;
- /webhook/...          a receiver of QuotaWatch's signed webhook: checks the signature and
                         refuses (401) a bad one or a timestamp more than 5 minutes off;
- /chatbot/...          Amazon Q Developer in chat applications as an HTTPS subscriber of the
                         topic: takes SNS's Notification envelope (and its SubscriptionConfirmation)
                         and refuses (400) a Message that is not a custom notification
                         (version "1.0", source "custom", content with a title or description).

Failures are scripted per type (`fail_next`): 429 with Retry-After, 5xx, a slow answer.
Every request is recorded (`received`), the refused ones too, with its decoded JSON body.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from quotawatch_local.fakes import tls as test_tls
from quotawatch_local.fakes.server import Reply
from quotawatch_local.loopback import LoopbackServer

TYPES = ("slack", "teams", "discord", "pagerduty", "webhook")
CHATBOT = "chatbot"
ROUTING_KEY = "R0UTINGKEY0000000000000000000000"  # 32 characters, as PagerDuty's are
SIGNING_KEY = "whsec-local-test-key"
_TOLERANCE = 300  # seconds a webhook timestamp may be off


@dataclass(frozen=True)
class Received:
    type: str
    path: str
    headers: dict[str, str]
    body: Any  # the JSON body, decoded
    status: int  # what the fake answered


class FakeReceivers(LoopbackServer):
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.received: list[Received] = []
        self._failures: dict[str, list[Reply]] = {t: [] for t in (*TYPES, CHATBOT)}
        self._clock = clock
        self._lock = threading.Lock()
        super().__init__(self._handler_class(), ThreadingHTTPServer, test_tls.server_context())

    def url_for(self, kind: str) -> str:
        """The webhook URL (or the Events API endpoint) of one channel type."""
        return {
            "slack": f"{self.url}/slack/services/T0001/B0001/XXXXXXXXXXXXXXXXXXXXXXXX",
            "teams": f"{self.url}/teams/workflows/abc/triggers/manual/paths/invoke?sig=SECRETSIG",
            "discord": f"{self.url}/discord/api/webhooks/1234/TOKEN",
            "pagerduty": f"{self.url}/pagerduty/v2/enqueue",
            "webhook": f"{self.url}/webhook/quotawatch",
            CHATBOT: f"{self.url}/chatbot/sns",
        }[kind]

    def fail_next(self, kind: str, *replies: Reply) -> None:
        with self._lock:
            self._failures[kind].extend(replies)

    def accepted(self, kind: str) -> list[Any]:
        """The bodies a channel type accepted, oldest first."""
        return [r.body for r in self.received if r.type == kind and r.status < 300]

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        kind = path.split("/", 2)[1] if path.count("/") >= 2 else ""
        with self._lock:
            scripted = self._failures.get(kind, [])
            reply = scripted.pop(0) if scripted else None
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if reply is None:
            reply = _reply(kind, headers, raw, body, self._clock())
        with self._lock:
            self.received.append(Received(kind, path, headers, body, reply.status))
        return reply

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                reply = fake._answer(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                if reply.delay:
                    time.sleep(reply.delay)
                if isinstance(reply.body, bytes):
                    body, kind = reply.body, "text/plain"
                elif reply.body is None:
                    body, kind = b"", "text/plain"
                else:
                    body, kind = json.dumps(reply.body).encode(), "application/json"
                self.send_response(reply.status)
                for name, value in {"Content-Type": kind, **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _reply(kind: str, headers: dict[str, str], raw: bytes, body: Any, now: float) -> Reply:
    if kind == "slack":
        ok = isinstance(body, dict) and (body.get("text") or body.get("blocks"))
        return Reply(200, b"ok") if ok else Reply(400, b"invalid_payload")
    if kind == "teams":
        ok = isinstance(body, dict) and body.get("type") == "message" and body.get("attachments")
        return Reply(202, None) if ok else Reply(400, {"error": {"code": "InvalidRequestContent"}})
    if kind == "discord":
        ok = isinstance(body, dict) and (body.get("content") or body.get("embeds"))
        return Reply(204, None) if ok else Reply(400, {"message": "Cannot send an empty message", "code": 50006})
    if kind == "pagerduty":
        return _pagerduty(body)
    if kind == "webhook":
        return _webhook(headers, raw, now)
    if kind == CHATBOT:
        return _chatbot(body)
    return Reply(404, {"error": "Not Found"})


def _chatbot(envelope: Any) -> Reply:
    if not isinstance(envelope, dict) or envelope.get("Type") not in ("Notification", "SubscriptionConfirmation"):
        return Reply(400, {"error": "not an SNS message"})
    if envelope["Type"] == "SubscriptionConfirmation":
        return Reply(200, None)
    try:
        event = json.loads(envelope.get("Message", ""))
    except ValueError:
        return Reply(400, {"error": "Message is not JSON: not a custom notification"})
    content = event.get("content") if isinstance(event, dict) else None
    if (
        event.get("version") != "1.0"
        or event.get("source") != "custom"
        or not isinstance(content, dict)
        or not (content.get("title") or content.get("description"))
    ):
        return Reply(400, {"error": "not a custom notification"})
    return Reply(200, None)


def _pagerduty(event: Any) -> Reply:
    invalid = Reply(400, {"status": "invalid event", "message": "Event object is invalid", "errors": []})
    if not isinstance(event, dict) or event.get("routing_key") != ROUTING_KEY:
        return invalid
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve") or (not event.get("dedup_key") and action != "trigger"):
        return invalid
    payload = event.get("payload")
    if action == "trigger" and not (
        isinstance(payload, dict) and payload.get("summary") and payload.get("source") and payload.get("severity")
    ):
        return invalid
    dedup = event.get("dedup_key") or "generated-key"
    return Reply(202, {"status": "success", "message": "Event processed", "dedup_key": dedup})


def _webhook(headers: dict[str, str], raw: bytes, now: float) -> Reply:
    """What the README's ten-line receiver does."""
    timestamp = headers.get("x-quotawatch-timestamp", "")
    given = headers.get("x-quotawatch-signature", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > _TOLERANCE:
        return Reply(401, {"error": "stale or missing timestamp"})
    expected = "sha256=" + hmac.new(SIGNING_KEY.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given, expected):
        return Reply(401, {"error": "bad signature"})
    return Reply(204, None)
