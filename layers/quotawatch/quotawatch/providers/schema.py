"""The typed models of a provider declaration, and the JSON Schemas of the files a user
writes (docs/schema/), which take them in: monitors.yaml holds declarations under
`providers:`. Here and not in models.py because a declaration's expressions and messages
are compiled as they are read (`compiled`), by providers/expressions.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from quotawatch.models import NAME_CHARS, ChannelModel, Day, Defaults, Maybe, Model, MonitorModel, Url
from quotawatch.providers import expressions as ex
from quotawatch.strict_yaml import MAX_CHANNELS, MAX_MONITORS

DeclName = Annotated[
    str, Meta(pattern=r"^[a-z][a-z0-9_-]{0,39}(?!\n)$", description=f"{NAME_CHARS} 40, starting with a letter")
]
OneLine = Annotated[
    str, Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$", description="one line of text of at most 200")
]
# Expressions and messages are compiled as they are read (compiled; schema_of).
_EXPR = "an expression (JMESPath, or a plain path)"
Expr = Annotated[ex.Expression, Meta(description=_EXPR)]
Message = Annotated[ex.Template, Meta(description="a message template such as 'plan {plan}[ until {end}]'")]
Severity = Literal["warning", "critical", "info"]
_TOKEN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"  # noqa: S105 (a pattern: RFC 9110's token)
HeaderName = Annotated[str, Meta(pattern=_TOKEN, description="a header's name")]


def compiled(kind: type[Any], value: Any) -> ex.Expression | ex.Template:
    """An expression or a message as msgspec reads it (ExpressionError is a ValueError: the field's)."""
    if not isinstance(value, str):
        raise ValueError("Expected `str`")  # told as what the field takes
    return ex.compile_expression(value) if kind is ex.Expression else ex.compile_template(value)


class AuthModel(Model, kw_only=True):
    header: Maybe[HeaderName] = UNSET
    format: Maybe[Annotated[str, Meta(max_length=100, description="holding {key} once, e.g. 'Bearer {key}'")]] = UNSET
    query: Maybe[Annotated[str, Meta(pattern=_TOKEN, description="a parameter's name")]] = UNSET
    basic: Maybe[Literal[True]] = UNSET


class MeterDeclaration(Model, kw_only=True):
    unit: Annotated[str, Meta(description="calls, requests, characters, credits, bytes, GB, ms, USD, EUR...")]
    used: Maybe[Expr] = UNSET
    limit: Maybe[Expr] = UNSET
    remaining: Maybe[Expr] = UNSET
    unit_from: Maybe[Expr] = UNSET
    scale: Annotated[float, Meta(gt=0, lt=1e12, description="a number above 0 (0.01 turns cents into dollars)")] = 1.0
    unlimited: float | list[float | None] | UnsetType | None = UNSET
    # true, an expression (the meter may be absent when it holds), or the figures that may be absent
    optional: (
        bool
        | Annotated[str, Meta(min_length=1, max_length=ex.MAX_EXPRESSION_CHARS, description=_EXPR)]
        | list[Literal["used", "limit", "remaining"]]
    ) = False
    each: Maybe[Expr] = UNSET
    key: Maybe[Expr] = UNSET


class ConditionDeclaration(Model, kw_only=True):
    severity: Severity
    message: Message
    when: Maybe[Expr] = UNSET
    when_true: Maybe[Expr] = UNSET
    when_false: Maybe[Expr] = UNSET


class RefusalDeclaration(Model, kw_only=True):
    status: Annotated[int, Meta(ge=400, le=599, description="an HTTP error status (400 to 599)")]
    condition: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="the condition's name")]
    severity: Severity
    message: Message
    when: Maybe[Expr] = UNSET


class PeriodDeclaration(Model, kw_only=True):
    start: Maybe[Expr] = UNSET
    end: Maybe[Expr] = UNSET
    monthly: Maybe[Day] = UNSET
    resets_in: Maybe[Expr] = UNSET  # the end as a time from now: seconds or "6m0s"


class PagesDeclaration(Model, kw_only=True):
    """How an answer continues on further pages (a cursor sent back as a query parameter)."""

    next: Expr
    param: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="a query parameter's name")]
    more: Maybe[Expr] = UNSET
    max: Annotated[int, Meta(ge=1, le=100, description="the most pages read (1 to 100)")] = 10


class KeyDeclaration(Model, kw_only=True):
    """What the key looks like and where to create one: for people, never used to send it."""

    format: OneLine = ""  # e.g. "api:<key>", "<AccountSid>:<AuthToken>"
    where: OneLine = ""  # the page (or the place in the provider's console) that issues it


class Declaration(Model, kw_only=True):
    """A provider declaration: a file of the catalogue, providers/<name>.yaml, or an entry of
    `providers:` in monitors.yaml (where `name` may be left out)."""

    name: Maybe[DeclName] = UNSET
    display_name: Maybe[OneLine] = UNSET
    docs: Maybe[Annotated[str, Meta(pattern=r"^https://\S*$", description="the https:// address of the docs")]] = UNSET
    measures: Maybe[OneLine] = UNSET
    url: Maybe[Url] = UNSET
    base_url: Maybe[Url] = UNSET
    path: Annotated[str, Meta(pattern=r"^(/[^\s?#]*)?$", description="a path starting with '/'")] = ""
    query: dict[str, str | int | float | bool] | None = None
    headers: dict[HeaderName, OneLine] | None = None  # sent as they are, beside auth's (an API version)
    method: Literal["GET", "POST"] = "GET"
    body: Maybe[dict[str, Any] | str] = UNSET  # POST's: a mapping sent as JSON, or text
    content_type: Maybe[
        Annotated[str, Meta(pattern=r"^[\w.+-]+/[\w.+-]+(; ?[\w-]+=[\w.-]+)?$", description="a media type")]
    ] = UNSET
    pages: Maybe[PagesDeclaration] = UNSET
    auth: str | AuthModel
    params: dict[str, Annotated[str, Meta(description="in one line, what the value is")]] | None = None
    meters: Maybe[Annotated[dict[str, MeterDeclaration], Meta(max_length=64)]] = UNSET
    period: PeriodDeclaration | None = None
    conditions: Annotated[dict[str, ConditionDeclaration], Meta(max_length=32)] | None = None
    refusals: Annotated[list[RefusalDeclaration], Meta(max_length=32)] | None = None
    code: Maybe[str] = UNSET
    key: KeyDeclaration | None = None


class MonitorsFile(Model, kw_only=True):
    """The whole file, for its JSON Schema (entries are validated one by one)."""

    monitors: Annotated[list[MonitorModel], Meta(max_length=MAX_MONITORS)]
    defaults: Defaults | None = None
    channels: Annotated[list[ChannelModel], Meta(max_length=MAX_CHANNELS)] | None = None
    providers: dict[str, Declaration] | None = None


SCHEMAS: dict[str, tuple[type[Any], str]] = {
    "monitors": (MonitorsFile, "monitors.yaml"),
    "provider": (Declaration, "a provider declaration"),
}


def schema_of(name: str) -> dict[str, Any]:
    """The JSON Schema published as docs/schema/<name>.schema.json."""
    model, title = SCHEMAS[name]
    longest = {ex.Expression: ex.MAX_EXPRESSION_CHARS, ex.Template: ex.MAX_TEMPLATE_CHARS}
    text = {"type": "string", "minLength": 1}
    schema: dict[str, Any] = msgspec.json.schema(model, schema_hook=lambda kind: {**text, "maxLength": longest[kind]})
    if model is MonitorsFile:  # x-...: anchors to share, not read (config.py)
        schema["$defs"]["MonitorsFile"]["patternProperties"] = {"^x-": {}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"QuotaWatch: {title}", **schema}


if __name__ == "__main__":  # python -m quotawatch.providers.schema NAME > docs/schema/NAME.schema.json
    import json
    import sys

    print(json.dumps(schema_of(sys.argv[1]), indent=2, sort_keys=True))
