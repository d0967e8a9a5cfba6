"""Fakes for the catalogue's providers, each from a fixture file of documented answers.

`fakes/catalogue/<provider>.yaml` holds what the provider's documentation shows: where the
usage endpoint is, how the key is sent (written from the documentation, independently of
the declaration: the tests check the declaration against it), the documented example
answer and error answers, and the snapshot each answer should give. One fake server, and
one parametrised test suite (tests/unit/test_catalogue.py), serve every fixture.

In answers, "{key}" stands for the key the fake accepts: an error that echoes the key, as
some APIs do, tests that it never reaches output.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from quotawatch_local.fakes.server import ProviderApi, Reply, Scenario, always, common_faults

DIRECTORY = Path(__file__).parent / "catalogue"


@dataclass(frozen=True)
class Fixture:
    provider: str
    docs: str
    path: str  # path of the usage endpoint, params in place
    auth: dict[str, Any]  # {header, value: "... {key}"} | {query: name} | {basic: true}
    params: dict[str, str]  # the monitor's params the path was written with
    answers: dict[str, dict[str, Any]]  # name -> {status, body, headers, pages: {"page=2": answer}}
    expect: dict[str, dict[str, Any]]  # answer name -> {meters, conditions, period} or {error: kind}
    key: str  # a key in the provider's own form
    headers: dict[str, str]  # headers the documentation requires besides the key (a version)

    def api(self) -> ProviderApi:
        unauthorized = self.answers["unauthorized"]
        return ProviderApi(
            name=self.provider,
            paths=(self.path,),
            auth_header=self.auth.get("header", ""),
            auth_prefix="",
            unauthorized=_reply(unauthorized, self.key),
            carries_key=_key_check(self.auth),
            required_headers=self.headers,
        )

    def scenarios(self) -> dict[str, Scenario]:
        answers = {name: always(_reply(answer, self.key)) for name, answer in self.answers.items()}
        return {**common_faults(slow_seconds=30.0), **answers}


@functools.cache
def fixtures() -> dict[str, Fixture]:
    """The catalogue's fixtures, by provider."""
    found = [read_fixture(path) for path in sorted(DIRECTORY.glob("*.yaml"))]
    return {fixture.provider: fixture for fixture in found}


def read_fixture(path: Path) -> Fixture:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Fixture(
        provider=data["provider"],
        docs=data["docs"],
        path=data["path"],
        auth=data["auth"],
        params={k: str(v) for k, v in (data.get("params") or {}).items()},
        answers=data["answers"],
        expect=data.get("expect", {}),
        key=data.get("key", "test-key-0123456789abcdef"),
        headers={str(k): str(v) for k, v in (data.get("headers") or {}).items()},
    )


def _reply(answer: dict[str, Any], key: str) -> Reply:
    body = answer.get("body")
    if isinstance(body, str) and answer.get("raw"):
        payload: Any = body.replace("{key}", key).encode()
    else:
        payload = json.loads(json.dumps(body).replace("{key}", key))
    headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
    pages = {name: _reply(page, key) for name, page in (answer.get("pages") or {}).items()}
    return Reply(int(answer.get("status", 200)), payload, headers, pages=pages)


def _key_check(auth: dict[str, Any]) -> Callable[[str, dict[str, str], str], bool]:
    if "query" in auth:
        name = auth["query"]
        return lambda path, headers, key: parse_qs(urlsplit(path).query).get(name) == [key]
    if auth.get("basic"):

        def basic(path: str, headers: dict[str, str], key: str) -> bool:
            return headers.get("authorization") == "Basic " + base64.b64encode(key.encode()).decode()

        return basic
    header, value = auth["header"].lower(), auth["value"]
    return lambda path, headers, key: headers.get(header) == value.replace("{key}", key)
