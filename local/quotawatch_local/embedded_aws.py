"""An embedded AWS: moto's server on a loopback port, reached by boto3 over real HTTP.

Code under test finds it only through the standard AWS_ENDPOINT_URL variable, exactly
as it would find a VPC endpoint or LocalStack; nothing in the product knows it is local.
"""

from __future__ import annotations

import logging
import os
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
