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
    """moto's TransactWriteItems deep-copies the table to roll back on failure, and a write
    from another request thread in the middle breaks the copy ("dictionary changed size
    during iteration"). DynamoDB itself has no such limit; the emulator's writes are made
    one at a time here (reads still run side by side). The copy also took the table's
    stream with it, every record of every write so far, for each transaction: it now
    shares the stream instead. Fixes of the emulator, not of the product."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    def copy_sharing_the_stream(table: Any, memo: dict[int, Any]) -> Any:
        shard = getattr(table, "stream_shard", None)
        if shard is not None:
            memo[id(shard)] = shard
        copied = Table.__new__(Table)
        memo[id(table)] = copied
        for name, value in table.__dict__.items():
            setattr(copied, name, copy.deepcopy(value, memo))
        return copied

    Table.__deepcopy__ = copy_sharing_the_stream  # type: ignore[attr-defined]

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "_quotawatch_serialised", False):
            continue

        def serialised(self: Any, *args: Any, _method: Any = method, **kwargs: Any) -> Any:
            with _WRITES:
                return _method(self, *args, **kwargs)

        serialised._quotawatch_serialised = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, serialised)


class EmbeddedAws:
    def __init__(self, endpoint_url: str = "") -> None:
        self.endpoint_url = endpoint_url
        self._server: Any = None

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
        return boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=REGION,
        ).client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]


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
