"""What a provider module declares: where its usage lives, how to authenticate, how to parse.

A provider module is small and declarative: one `PROVIDER = Provider(...)`. Its `parse`
turns the provider's JSON into meters, conditions and a billing period, using the liberal
readers of `quotawatch.providers.parsing`, and raises `BadResponse` naming the field when
the answer lacks what a meter needs. It never does I/O: the HTTP policy, retries and
error classification are shared by all providers (`quotawatch.adapters.http`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast
from urllib.parse import quote, urlencode

from quotawatch.core.errors import CheckFailed
from quotawatch.core.snapshot import Condition, ErrorKind, Meter, Period
from quotawatch.core.urls import internal_address
from quotawatch.ports import HttpRequest
from quotawatch.providers.parsing import time_values

if TYPE_CHECKING:
    from quotawatch.providers.expressions import Expression


@dataclass(frozen=True)
class ParsedUsage:
    meters: tuple[Meter, ...]
    conditions: tuple[Condition, ...] = ()
    period: Period | None = None


@dataclass(frozen=True)
class Auth:
    """How the key is sent: in a header (`format` around it), as a query parameter, or as
    HTTP basic credentials (the key is `user:password`, e.g. Twilio's `SID:token`)."""

    kind: Literal["header", "query", "basic"]
    name: str = "Authorization"  # the header or the query parameter
    format: str = "{key}"

    def header(self, key: str) -> dict[str, str]:
        if self.kind == "header":
            return {self.name: self.format.replace("{key}", key)}
        if self.kind == "basic":
            if ":" not in key:
                raise CheckFailed(ErrorKind.CONFIG, "the key must be user:password for HTTP basic authentication")
            return {"Authorization": "Basic " + base64.b64encode(key.encode()).decode("ascii")}
        return {}

    def describe(self) -> str:
        if self.kind == "basic":
            return "HTTP basic (user:password)"
        if self.kind == "query":
            return f"query ?{self.name}="
        return f"header {self.name}: {self.format.replace('{key}', 'KEY')}"

    def forms(self, key: str) -> tuple[str, ...]:
        """The key as it travels, beside the key itself: what an echo of it may look like."""
        if self.kind == "query":
            return (quote(key, safe=""),)
        if self.kind == "basic":
            _user, _, password = key.partition(":")
            return (password, base64.b64encode(key.encode()).decode("ascii"))
        return ()


@dataclass(frozen=True)
class KeyHelp:
    """What a provider's key looks like in the secret and where a person creates one
    (`quotawatch providers NAME`); both optional in a declaration (`key: {format, where}`)."""

    format: str = ""  # e.g. "api:<key>", "<AccountSid>:<AuthToken>"
    where: str = ""  # the page (or the place in the provider's console) that issues it


@dataclass(frozen=True)
class Pages:
    """How an answer continues on further pages: the cursor (`next`) from a page, sent back
    as the query parameter `param`, while `more` holds, for at most `max` pages."""

    next: Expression
    param: str
    more: Expression | None = None
    max: int = 10


@dataclass(frozen=True)
class Provider:
    name: str
    display_name: str
    base_url: str
    path: str
    auth: Auth
    # (JSON body, time of the check) -> usage; the time is for facts relative to now,
    # such as a key expiring in N days.
    parse: Callable[[Any, datetime], ParsedUsage]
    # Meter names snapshots use; a trailing '*' names a family ("key:*" for one per key).
    meter_names: tuple[str, ...] = field(default=())
    # Condition names, the same way ("key_expiring:*"). What a family adds to its prefix
    # is the provider's text, masked with the key; the rest of a declared name is never.
    condition_names: tuple[str, ...] = field(default=())
    # (status, JSON error body, time) -> usage, for a refusal that is itself a reading:
    # "storage quota reached" is a breach to report, not a check that failed.
    read_refusal: Callable[[int, Any, datetime], ParsedUsage | None] | None = None

    # Query parameters, each value a template of the monitor's params ("{account_sid}").
    query: tuple[tuple[str, str], ...] = ()
    # Non-secret values a monitor gives for placeholders of the path and query, with what
    # each is ("account_sid": "the Account SID, AC...").
    params: Mapping[str, str] = field(default_factory=dict)
    docs_url: str = ""
    measures: str = ""  # what it watches, in a few words (`quotawatch providers`)
    source: str = "built in"  # where it was declared: a catalogue file, a user's file
    meter_units: Mapping[str, str] = field(default_factory=dict)  # by meter name, where declared
    optional_meters: tuple[str, ...] = ()  # meters an answer may leave out (`optional: true`)
    key: KeyHelp = KeyHelp()
    headers: tuple[tuple[str, str], ...] = ()  # sent as they are, beside the key's (an API version)
    method: str = "GET"
    # POST's body: a mapping sent as JSON, or text, with the placeholders of the URL.
    body: Any = None
    content_type: str | None = None
    timed: bool = False  # the request has time placeholders ({period.start:unix}...)
    monthly_on: int | None = None  # the day its monthly period starts, when declared so
    pages: Pages | None = None
    reads_headers: bool = False  # expressions read `headers.NAME`: the answer's headers

    @property
    def key_format(self) -> str:
        """What the secret's field holds: as declared, else what the auth implies."""
        return self.key.format or ("<user>:<password>" if self.auth.kind == "basic" else "<key>")

    def url(self, base_url: str | None = None, params: Mapping[str, str] | None = None) -> str:
        """The usage endpoint with the monitor's params (and times) in place (the key is not in it)."""
        values = params or {}
        path, base = self.path, base_url or self.base_url
        for name in (*self.params, *(values if self.timed else ())):
            placeholder, filled = "{" + name + "}", quote(values.get(name, ""), safe="")
            path = path.replace(placeholder, filled)
            if not base_url:  # a host of the monitor's ("{host}"); param_problem checked it is one
                base = base.replace(placeholder, filled)
        query = [(name, _filled(value, values)) for name, value in self.query]
        url = base.rstrip("/") + path
        return url + ("?" + urlencode(query) if query else "")

    def request(
        self,
        key: str,
        base_url: str | None = None,
        params: Mapping[str, str] | None = None,
        now: datetime | None = None,
        monthly_on: int | None = None,
    ) -> HttpRequest:
        """The request that carries `key` to the usage endpoint, its times those of `now` (a
        monitor may start the month on another day: `monthly_on`)."""
        values = params or {}
        if self.timed:
            values = {**values, **time_values(monthly_on or self.monthly_on, now or datetime.now(UTC))}
        url = self.url(base_url, values)
        if self.auth.kind == "query":
            url += ("&" if "?" in url else "?") + urlencode({self.auth.name: key})
        headers = self.auth.header(key)
        if self.headers:  # fixed, or a monitor's param_problem found header-safe ("{host}")
            headers = {**{name: _filled(value, values) for name, value in self.headers}, **headers}
        if self.body is None:
            return HttpRequest(url, headers, self.method)
        if isinstance(self.body, str):
            body = _filled(self.body, values).encode()
        else:
            body = json.dumps(_filled_json(self.body, values), separators=(",", ":")).encode()
        return HttpRequest(url, headers, self.method, body, self.content_type)

    def param_problem(self, name: str, value: str) -> str | None:
        """Why a monitor's value for `{name}` cannot go where this declaration puts it; None: it can.

        In a header: visible ASCII with inner spaces only, so that it is sent exactly as
        written and can never end the header or start another. In the URL's host: a host
        name that is not a private or metadata address (core/urls.py checks the URL as sent
        too, as it does every base_url).
        """
        placeholder = "{" + name + "}"
        if any(placeholder in value for _, value in self.headers) and not _header_safe(value):
            return "goes into a request header: visible ASCII characters, spaces only between them"
        if placeholder in self.base_url and (not _HOST_PART.fullmatch(value) or internal_address(value)):
            return "goes into the URL's host: a public host name such as example-api.p.rapidapi.com"
        return None

    def auth_headers(self, key: str) -> dict[str, str]:
        return self.auth.header(key)

    def has_meter(self, name: str) -> bool:
        return declared_part(name, self.meter_names) is not None


class Parse(Protocol):
    def __call__(self, body: Any, now: datetime | None = None) -> ParsedUsage: ...


class ReadRefusal(Protocol):
    def __call__(self, status: int, body: Any, now: datetime | None = None) -> ParsedUsage | None: ...


def declared_names(name: str) -> tuple[Provider, Parse, ReadRefusal]:
    """A catalogue provider and its reading, for a module that keeps the names of its coded past."""
    from quotawatch.providers import get_provider

    provider = get_provider(name)
    if provider is None:
        raise ImportError(f"the catalogue has no provider '{name}'")
    refusal = provider.read_refusal
    return provider, cast(Parse, provider.parse), cast(ReadRefusal, refusal or _no_refusal)


def _no_refusal(status: int, body: Any, now: datetime | None = None) -> ParsedUsage | None:
    return None


# Dot-separated DNS labels: letters, digits and inner hyphens, at most 63 characters each.
_HOST_PART = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")


def _header_safe(value: str) -> bool:
    return value == value.strip() and all(" " <= char <= "~" for char in value)


def _filled(template: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


_UNIX = re.compile(r"\{[a-z.]+:unix\}")


def _filled_json(template: Any, values: Mapping[str, str]) -> Any:
    """A JSON body with its placeholders filled; a string that is one `{...:unix}` alone
    becomes a number (an API's Unix time is an integer)."""
    if isinstance(template, str):
        filled = _filled(template, values)
        return int(filled) if _UNIX.fullmatch(template) and filled.lstrip("-").isdigit() else filled
    if isinstance(template, dict):
        return {_filled(str(k), values): _filled_json(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_filled_json(v, values) for v in template]
    return template


def declared_part(name: str, patterns: tuple[str, ...]) -> str | None:
    """The part of `name` a module declared (all of it, or a family's prefix); None if not declared."""
    for pattern in patterns:
        if not pattern.endswith("*"):
            if name == pattern:
                return name
        elif name.startswith(pattern[:-1]) and len(name) > len(pattern) - 1:
            return pattern[:-1]
    return None
