"""An embedded AWS: moto's server on a loopback port, reached by boto3 over real HTTP.

Code under test finds it only through the standard AWS_ENDPOINT_URL variable, exactly
as it would find a VPC endpoint or LocalStack; nothing in the product knows it is local.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import requests

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account

# Fake credentials: signed requests need some, and these can never reach real AWS.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


_WRITES = threading.RLock()


def _serialise_dynamodb_writes() -> None:
    """Two fixes of the emulator, not of the product.

    moto's TransactWriteItems deep-copies each table it touches (with its stream: every
    record of every write so far) to roll back on failure. That costs time and memory in
    proportion to the table, for every transaction, and a write from another request thread
    in the middle breaks the copy ("dictionary changed size during iteration"). DynamoDB
    has neither limit. Here writes are made one at a time (reads still run side by side),
    and a transaction backs up only the items it names, restoring them if it fails.
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend, "_quotawatch_fixed", False):
        return
    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, _one_at_a_time(getattr(DynamoDBBackend, name)))
    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _WRITES:
            saved = [_backup(self, item) for item in transact_items]
            Table.__deepcopy__ = _same_table  # type: ignore[attr-defined]  # moto's own backup: none
            try:
                transact(self, transact_items)
            except Exception:
                for restore in reversed(saved):
                    restore()
                raise
            finally:
                del Table.__deepcopy__  # type: ignore[attr-defined]

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    DynamoDBBackend._quotawatch_fixed = True  # type: ignore[attr-defined]


def _one_at_a_time(method: Any) -> Any:
    def serialised(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _WRITES:
            return method(self, *args, **kwargs)

    return serialised


def _same_table(table: Any, memo: dict[int, Any]) -> Any:
    return table


def _backup(backend: Any, transact_item: dict[str, Any]) -> Any:
    """A function that puts back the item this part of a transaction names, as it is now."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    ((_, op),) = transact_item.items()
    table = backend.tables.get(op.get("TableName"))
    if table is None:
        return lambda: None
    key = op.get("Key") or op.get("Item") or {}
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    holder = table.items[hash_value] if range_value is not None else table.items
    slot = range_value if range_value is not None else hash_value
    before = copy.deepcopy(holder.get(slot))

    def restore() -> None:
        if before is None:
            holder.pop(slot, None)
        else:
            holder[slot] = before

    return restore


class EmbeddedAws:
    def __init__(self, endpoint_url: str = "") -> None:
        self.endpoint_url = endpoint_url
        self._server: Any = None
        # One client per service, made once: a new boto3 session loads and parses every
        # service model again (a tenth of a second of CPU each), and the local Lambda
        # service asks for clients on every poll. boto3 clients are thread-safe; making one
        # from a shared session is not, hence the lock.
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self._session: boto3.session.Session | None = None

    @classmethod
    def attach(cls, endpoint_url: str) -> EmbeddedAws:
        """Use an embedded AWS that another process started (`quotawatch_local up`)."""
        return cls(endpoint_url)

    def start(self) -> EmbeddedAws:
        from moto.server import ThreadedMotoServer  # heavy: import only when started

        # Quiet: werkzeug logs every request; moto's CloudFormation warns about each type it
        # skips, which the local stack creates beside it and reports itself.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        logging.getLogger("moto").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto")
        _serialise_dynamodb_writes()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def in_process(self) -> bool:
        """True when this process runs moto's server (not attached to another's)."""
        return self._server is not None

    def reset(self) -> None:
        """Forget every resource: each scenario starts from an empty account."""
        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

    @property
    def environment(self) -> dict[str, str]:
        """What a process needs in its environment to use this AWS with plain boto3."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            **FAKE_CREDENTIALS,
        }

    def client(self, service: str) -> Any:
        with self._clients_lock:
            key = (service, self.endpoint_url)
            if key not in self._clients:
                if self._session is None:
                    self._session = boto3.session.Session(
                        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
                        region_name=REGION,
                    )
                self._clients[key] = self._session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]
            return self._clients[key]


@contextmanager
def embedded_aws() -> Iterator[EmbeddedAws]:
    aws = EmbeddedAws().start()
    try:
        yield aws
    finally:
        aws.stop()


def scrub_real_aws_environment() -> None:
    """Drop any real AWS profile or credentials of the developer from this process."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
