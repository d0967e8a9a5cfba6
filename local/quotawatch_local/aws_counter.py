"""Count the AWS calls a function makes: a recording proxy in front of the embedded AWS.

The function is given the proxy's address as AWS_ENDPOINT_URL; every request is counted
by service and operation, and by the IAM actions it needs, and passed on to moto
unchanged. Used by the benchmarks and the least-privilege tests. Fault tests can also have
it refuse chosen requests (`refuse`), the way DynamoDB refuses an item, so that a
function meets a storage error over real HTTP.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

import requests

from quotawatch_local.loopback import LoopbackServer

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
_NOT_PASSED_BACK = _HOP_BY_HOP | {"content-encoding"}


def operation_of(headers: dict[str, str], body: bytes, method: str = "POST", path: str = "/") -> tuple[str, str]:
    """(service, operation) of a signed AWS request: JSON protocols name it in X-Amz-Target,
    query protocols in the Action form field, EventBridge Scheduler's REST API by method and path."""
    match = _SCOPE.search(headers.get("authorization", ""))
    service = match.group(1) if match else "?"
    target = headers.get("x-amz-target")
    if target:
        return service, target.rsplit(".", 1)[-1]
    if service == "scheduler":
        return service, _scheduler_operation(method, path)
    action = parse_qs(body.decode("utf-8", "replace")).get("Action")
    return service, action[0] if action else "?"


def _scheduler_operation(method: str, path: str) -> str:
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts[:1] != ["schedules"]:
        return "?"
    if len(parts) == 1:
        return "ListSchedules" if method == "GET" else "?"
    return {"POST": "CreateSchedule", "PUT": "UpdateSchedule", "GET": "GetSchedule", "DELETE": "DeleteSchedule"}.get(
        method, "?"
    )


# IAM authorises a DynamoDB transaction per item: there is no TransactWriteItems action.
_TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# botocore's service names in the signing scope that differ from IAM's action prefixes.
_IAM_PREFIX = {"email": "ses", "events": "events", "monitoring": "cloudwatch"}


def iam_actions_of(service: str, operation: str, body: bytes) -> set[str]:
    """The IAM actions a request needs: `service:Operation`, except for DynamoDB transactions,
    which need the action of each item (Put -> dynamodb:PutItem, Get -> dynamodb:GetItem ...)."""
    prefix = _IAM_PREFIX.get(service, service)
    if service == "dynamodb" and operation in ("TransactWriteItems", "TransactGetItems"):
        items = json.loads(body or b"{}").get("TransactItems", [])
        if operation == "TransactGetItems":
            return {"dynamodb:GetItem"} if items else set()
        return {f"dynamodb:{_TRANSACT_ITEM_ACTIONS[kind]}" for item in items for kind in item}
    if service == "sqs" and operation in _SQS_BATCH_ACTIONS:
        return {f"sqs:{_SQS_BATCH_ACTIONS[operation]}"}
    return {f"{prefix}:{operation}"}


# IAM authorises SQS's batch calls as their single-message actions.
_SQS_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


@dataclass(frozen=True)
class Refusal:
    """Refuse requests of this operation whose body holds `containing`, with a DynamoDB-style
    client error that botocore does not retry; or, with `lose_answer`, pass the request on
    and close the connection instead of answering (the service took it, the answer is lost)."""

    operation: str
    containing: str = ""
    code: str = "ValidationException"
    lose_answer: bool = False


class AwsCallCounter(LoopbackServer):
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.refusals: list[Refusal] = []
        self.refused = 0  # requests refused so far
        self.calls: Counter[tuple[str, str]] = Counter()
        self.actions: set[str] = set()  # IAM actions needed by every call so far
        self._lock = threading.Lock()
        self._session = requests.Session()
        super().__init__(self._handler())

    @property
    def endpoint_url(self) -> str:
        return self.url

    def take(self) -> Counter[tuple[str, str]]:
        """The calls counted since the last take."""
        with self._lock:
            counted, self.calls = self.calls, Counter()
        return counted

    def refuse(self, *refusals: Refusal) -> None:
        """From now on, refuse the requests these describe (none: pass everything again)."""
        with self._lock:
            self.refusals = list(refusals)

    def _refusal(self, operation: str, body: bytes) -> Refusal | None:
        with self._lock:
            for refusal in self.refusals:
                if refusal.operation == operation and refusal.containing.encode() in body:
                    self.refused += 1
                    return refusal
        return None

    def take_actions(self) -> set[str]:
        """The IAM actions needed by the calls since the last take_actions."""
        with self._lock:
            needed, self.actions = self.actions, set()
        return needed

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        counter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: with Nagle's algorithm the body would
            # wait for the client's delayed ACK (40 ms on Linux) on every kept-alive request.
            disable_nagle_algorithm = True

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                service, operation = operation_of(headers, body, self.command, self.path)
                with counter._lock:
                    counter.calls[service, operation] += 1
                    counter.actions |= iam_actions_of(service, operation, body)
                refusal = counter._refusal(operation, body)
                if refusal is not None and not refusal.lose_answer:
                    self._refuse(refusal, headers)
                    return
                upstream = counter._session.request(
                    self.command,
                    counter.upstream + self.path,
                    data=body,
                    headers={k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP},
                    timeout=60,
                )
                if refusal is not None:  # taken upstream; the answer never comes back
                    self.close_connection = True
                    return
                headers = {
                    k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP | {"content-encoding"}
                }
                self._reply(upstream.status_code, headers, upstream.content)

            def _refuse(self, refusal: Refusal, headers: dict[str, str]) -> None:
                """A client error in the request's protocol: JSON (DynamoDB) or query (SNS)."""
                if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                    xml = (
                        "<ErrorResponse><Error><Type>Sender</Type>"
                        f"<Code>{refusal.code}</Code><Message>refused</Message></Error></ErrorResponse>"
                    )
                    self._reply(400, {"Content-Type": "text/xml"}, xml.encode())
                    return
                error = json.dumps({"__type": f"com.amazon.coral.validate#{refusal.code}", "message": "refused"})
                self._reply(400, {"Content-Type": "application/x-amz-json-1.0"}, error.encode())

            def _reply(self, status: int, headers: dict[str, str], content: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward  # noqa: N815 - http.server naming

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
