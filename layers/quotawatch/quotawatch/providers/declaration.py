"""Reading a provider declaration: a mapping (from YAML) checked field by field into a Provider.

A declaration is hostile input like the monitors file: whatever it holds, `declare`
returns a Provider or raises DeclarationError, whose message is one line naming the file,
the provider and the field ("acme.yaml: provider 'acme': field 'meters.calls.used': does
not compile as JMESPath (...)"). The format is described in the README ("Watch any API").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from quotawatch.core.snapshot import Severity
from quotawatch.core.urls import internal_address
from quotawatch.echo import ConfigError, _bounded, _first_name, _name, _show, _text
from quotawatch.echo import InvalidField as _Invalid
from quotawatch.providers.base import Auth, ParsedUsage, Provider
from quotawatch.providers.declared import (
    FIGURES,
    ConditionSpec,
    MeterSpec,
    PeriodSpec,
    Reading,
    RefusalSpec,
    is_unit,
)
from quotawatch.providers.expressions import Expression, ExpressionError, compile_expression, compile_template
from quotawatch.strict_yaml import Broken, line_of

NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_METER_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}(:\*)?")
_PARAM_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FIELDS = {
    "name", "display_name", "docs", "measures", "url", "base_url", "path", "query", "auth", "params",
    "meters", "period", "conditions", "refusals", "code",
}  # fmt: skip
_METER_FIELDS = {*FIGURES, "unit", "unit_from", "scale", "unlimited", "optional", "each", "key"}
_CONDITION_FIELDS = {"when", "when_true", "when_false", "severity", "message"}
_REFUSAL_FIELDS = {"status", "when", "condition", "severity", "message"}
MAX_METERS = 64
MAX_CONDITIONS = 32


@dataclass(frozen=True)
class CodedReading:
    """How a provider's answers are read: a declaration's reading, or what a provider module
    does in Python where a declaration cannot say it (named by `code:`)."""

    parse: Callable[..., ParsedUsage]
    meter_names: tuple[str, ...]
    condition_names: tuple[str, ...] = ()
    read_refusal: Callable[..., ParsedUsage | None] | None = None


# A declaration that cannot be used; the message is one line naming file, provider and field.
DeclarationError = ConfigError


def declare(
    data: Any, source: str, name: str | None = None, coded: Mapping[str, CodedReading] | None = None
) -> Provider:
    """The Provider `data` declares; `name` when the place it came from names it (a key of
    `providers:` in monitors.yaml), else its `name` field."""
    named = data.get("name") if isinstance(data, dict) else data.name if isinstance(data, Broken) else None
    shown = _text(name or (named if isinstance(named, str) else "?"))
    if isinstance(data, Broken):  # its YAML cannot be read
        raise DeclarationError(_bounded(f"{source}: line {data.line}: provider '{shown}': {data.message}"))
    try:
        return _provider(data, source, name, coded or {})
    except _Invalid as exc:
        line = line_of(data, tuple(exc.field.replace("[", ".").replace("]", "").split(".")))
        where = f"{source}: line {line}" if line else source
        raise DeclarationError(_bounded(f"{where}: provider '{shown}': field '{exc.field}': {exc}")) from None
    except ExpressionError as exc:  # raised outside a field's own check: never expected
        raise DeclarationError(_bounded(f"{source}: provider '{shown}': {exc}")) from None


def _provider(data: Any, source: str, name: str | None, coded: Mapping[str, CodedReading]) -> Provider:
    if not isinstance(data, dict):
        raise _Invalid("-", f"a declaration must be a mapping of fields, got {_show(data)}")
    unknown = set(data) - _FIELDS
    if unknown:
        raise _Invalid(_first_name(unknown), f"unknown field (allowed: {', '.join(sorted(_FIELDS))})")
    declared_name = data.get("name", name)
    if not isinstance(declared_name, str) or not NAME.fullmatch(declared_name):
        raise _Invalid("name", "required: lower-case letters, digits, '-' and '_', at most 40, starting with a letter")
    if name is not None and declared_name != name:
        raise _Invalid("name", f"is {_show(declared_name)} but the declaration is under {_show(name)}")
    display = _line(data, "display_name", default=declared_name)
    docs = _line(data, "docs", default="")
    if docs and not docs.startswith("https://"):
        raise _Invalid("docs", "must be the https:// address of the provider's documentation")

    params = _params(data.get("params"))
    base_url, path = _endpoint(data, params)
    query = _query(data.get("query"), params)
    auth = _auth(data.get("auth"))
    for field_name, text in [("url", base_url + path)] + [(f"query.{k}", v) for k, v in query]:
        _require_known_placeholders(text, params, field_name)

    reader = _reader(data, coded)
    return Provider(
        name=declared_name,
        display_name=display,
        base_url=base_url,
        path=path,
        auth=auth,
        parse=reader.parse,
        meter_names=reader.meter_names,
        condition_names=reader.condition_names,
        read_refusal=reader.read_refusal,
        query=query,
        params=params,
        docs_url=docs,
        measures=_line(data, "measures", default=", ".join(reader.meter_names)),
        source=source,
    )


def _reader(data: dict[str, Any], coded: Mapping[str, CodedReading]) -> CodedReading:
    """How the answers are read: the declared meters, period, conditions and refusals, or the
    code a declaration names under `code:` (then it declares none of those itself)."""
    code = data.get("code")
    if code is not None:
        if not isinstance(code, str) or code not in coded:
            raise _Invalid("code", f"names no coded reader (there are: {', '.join(sorted(coded)) or 'none'})")
        for field_name in ("meters", "conditions", "refusals", "period"):
            if field_name in data:
                raise _Invalid(field_name, f"is read by the code ({code}); declare it there")
        return coded[code]
    meters = _meters(data.get("meters"))
    conditions = _conditions(data.get("conditions"))
    refusals = _refusals(data.get("refusals"))
    reading = Reading(meters, conditions, _period(data.get("period")), refusals)
    return CodedReading(
        parse=reading.parse,
        meter_names=tuple(m.name for m in meters),
        condition_names=tuple(dict.fromkeys([c.name for c in conditions] + [r.condition.name for r in refusals])),
        read_refusal=reading.read_refusal if refusals else None,
    )


def _line(data: dict[str, Any], field_name: str, default: str) -> str:
    value = data.get(field_name, default)
    if not isinstance(value, str) or not value.isprintable() or len(value) > 200:
        raise _Invalid(field_name, f"must be one line of text of at most 200 characters, got {_show(value)}")
    return value.strip()


def _params(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid("params", f"must map each parameter's name to what it is, got {_show(value)}")
    params: dict[str, str] = {}
    for key, about in value.items():
        if not isinstance(key, str) or not _PARAM_NAME.fullmatch(key) or key == "key":
            raise _Invalid(f"params.{_name(key)}", "a parameter's name is lower-case letters, digits and '_'")
        if not isinstance(about, str) or not about.isprintable():
            raise _Invalid(f"params.{key}", "say in one line what the value is (e.g. 'the Account SID, AC...')")
        params[key] = about
    return params


def _endpoint(data: dict[str, Any], params: Mapping[str, str]) -> tuple[str, str]:
    """(base_url, path): from `url` split after its host, or from `base_url` and `path`."""
    if "url" in data:
        if "base_url" in data or "path" in data:
            raise _Invalid("url", "give either url, or base_url and path")
        url = _url(data["url"], "url", params)
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        path = url[len(base) :]
        if parts.query:
            raise _Invalid("url", "put query parameters under 'query:'")
        return base, path or "/"
    base = _url(data.get("base_url"), "base_url", params)
    path = data.get("path", "")
    if not isinstance(path, str) or (path and not path.startswith("/")) or not (path or "/").isprintable():
        raise _Invalid("path", f"must start with '/', got {_show(path)}")
    if " " in path or "?" in path or "#" in path:
        raise _Invalid("path", "must be a path without spaces; put query parameters under 'query:'")
    _url(base.rstrip("/") + path, "path", params)
    return base, path


def _url(value: Any, field_name: str, params: Mapping[str, str]) -> str:
    """An https URL, checked by its form here. The full rule of where a key may go
    (core/urls.py) is applied again to the URL as sent, by the HTTP client; it is not run
    here because it imports requests, which a cold start would pay for every declaration."""
    if not isinstance(value, str) or not value:
        raise _Invalid(field_name, "required: the https:// address of the usage endpoint")
    if len(value) > 2048:
        raise _Invalid(field_name, "is longer than 2048 characters")
    sample = _PLACEHOLDER.sub("x", value)  # each placeholder stands for a value of the monitor
    try:
        parts = urlsplit(sample)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme != "https"
        or not parts.hostname
        or "@" in parts.netloc
        or not sample.isprintable()
        or any(c.isspace() or c == "\\" for c in sample)
        or (port is not None and not 0 < port < 65536)
    ):
        raise _Invalid(field_name, f"must be an https:// URL, got {_show(value)}")
    internal = internal_address(parts.hostname)
    if internal is not None:
        raise _Invalid(field_name, f"names {internal}: a private, link-local or metadata address, not a provider's API")
    return value


def _require_known_placeholders(text: str, params: Mapping[str, str], field_name: str) -> None:
    for found in _PLACEHOLDER.findall(text):
        if found == "key":
            raise _Invalid(field_name, "the key goes only where 'auth' puts it (never in the URL or query)")
        if found not in params:
            raise _Invalid(field_name, f"the placeholder {{{_text(found)}}} is not declared under 'params:'")


def _query(value: Any, params: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise _Invalid("query", f"must map parameter names to values, got {_show(value)}")
    query = []
    for key, item in value.items():
        if not isinstance(key, str) or not key or not key.isprintable():
            raise _Invalid(f"query.{_name(key)}", "a parameter's name must be text")
        if isinstance(item, bool):
            item = "true" if item else "false"
        if isinstance(item, int | float):
            item = str(item)
        if not isinstance(item, str) or not item.isprintable():
            raise _Invalid(f"query.{key}", f"must be a value (text or a number), got {_show(item)}")
        query.append((key, item))
    return tuple(query)


def _auth(value: Any) -> Auth:
    if isinstance(value, str):  # "X-Api-Key: {key}", "Authorization: Bearer {key}"
        header, colon, form = value.partition(":")
        if not colon:
            raise _Invalid("auth", "a header and its format ('Authorization: Bearer {key}'), or a mapping")
        value = {"header": header.strip(), "format": form.strip()}
    if not isinstance(value, dict) or len(set(value) & {"header", "query", "basic"}) != 1:
        raise _Invalid("auth", "one of: {header: NAME, format: '... {key}'}, {query: NAME} or {basic: true}")
    unknown = set(value) - {"header", "query", "basic", "format"}
    if unknown:
        raise _Invalid(f"auth.{_first_name(unknown)}", "unknown field (allowed: basic, format, header, query)")
    if "basic" in value:
        if value["basic"] is not True or "format" in value:
            raise _Invalid("auth.basic", "write 'basic: true' (the key is user:password)")
        return Auth("basic")
    if "query" in value:
        name = value["query"]
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name) or "format" in value:
            raise _Invalid("auth.query", f"must be the query parameter's name, got {_show(name)}")
        return Auth("query", name)
    name = value["header"]
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        raise _Invalid("auth.header", f"must be a header's name, got {_show(name)}")
    form = value.get("format", "{key}")
    if not isinstance(form, str) or form.count("{key}") != 1 or not form.isprintable() or len(form) > 100:
        raise _Invalid("auth.format", "must hold {key} once, e.g. 'Bearer {key}'")
    return Auth("header", name, form)


def _meters(value: Any) -> tuple[MeterSpec, ...]:
    if not isinstance(value, dict) or not value:
        raise _Invalid("meters", "required: a mapping of meter names to their figures")
    if len(value) > MAX_METERS:
        raise _Invalid("meters", f"at most {MAX_METERS} meters")
    return tuple(_meter(name, spec) for name, spec in value.items())


def _meter(name: Any, spec: Any) -> MeterSpec:
    where = f"meters.{_name(name)}"
    if not isinstance(name, str) or not _METER_NAME.fullmatch(name):
        raise _Invalid(where, "a meter's name is lower-case letters, digits and '_' (a family ends with ':*')")
    if not isinstance(spec, dict):
        raise _Invalid(where, f"must be a mapping with used, limit and/or remaining, got {_show(spec)}")
    unknown = set(spec) - _METER_FIELDS
    if unknown:
        raise _Invalid(
            f"{where}.{_first_name(unknown)}", f"unknown field (allowed: {', '.join(sorted(_METER_FIELDS))})"
        )
    figures = {f: _expression(spec[f], f"{where}.{f}") for f in FIGURES if f in spec}
    if "used" not in figures and "remaining" not in figures:
        raise _Invalid(where, "needs 'used' or 'remaining' (any two of used, limit and remaining give the third)")
    family = name.endswith(":*")
    if family != ("each" in spec) or family != ("key" in spec):
        raise _Invalid(where, "a family (a name ending ':*') needs 'each' (the list) and 'key' (each item's name)")
    return MeterSpec(
        name=name,
        unit=_unit(spec.get("unit"), f"{where}.unit"),
        used=figures.get("used"),
        limit=figures.get("limit"),
        remaining=figures.get("remaining"),
        scale=_scale(spec.get("scale", 1), f"{where}.scale"),
        unlimited=_unlimited(spec.get("unlimited"), f"{where}.unlimited"),
        optional=_optional(spec.get("optional", False), f"{where}.optional"),
        optional_figures=_optional_figures(spec.get("optional"), f"{where}.optional"),
        each=_expression(spec["each"], f"{where}.each") if family else None,
        key=_expression(spec["key"], f"{where}.key") if family else None,
        unit_from=_expression(spec["unit_from"], f"{where}.unit_from") if "unit_from" in spec else None,
    )


def _expression(value: Any, where: str) -> Expression:
    try:
        return compile_expression(value)
    except ExpressionError as exc:
        raise _Invalid(where, str(exc)) from None


def _unit(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _Invalid(where, "required: calls, requests, characters, credits, bytes, GB, ms, USD, EUR...")
    if is_unit(value):
        return value
    raise _Invalid(
        where,
        f"unknown unit {_show(value)}: a currency code (USD, EUR...), a size (bytes, KB, MB, GB, TB, GiB), "
        "a time (ms, s) or a plain lower-case noun (calls, characters)",
    )


def _scale(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e12:
        raise _Invalid(where, f"must be a number above 0 (0.01 turns cents into dollars), got {_show(value)}")
    return float(value)


def _unlimited(value: Any, where: str) -> tuple[float | None, ...] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if not values or any(v is not None and (isinstance(v, bool) or not isinstance(v, int | float)) for v in values):
        raise _Invalid(where, "a list of the limit's values that mean unlimited (numbers, null), e.g. [-1, null]")
    return tuple(None if v is None else float(v) for v in values)


def _optional(value: Any, where: str) -> bool | Expression:
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        return False
    if isinstance(value, str):
        return _expression(value, where)
    raise _Invalid(where, "true, an expression (the meter may be absent when it holds), or a list of figures")


def _optional_figures(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list):
        return frozenset()
    if not all(isinstance(v, str) and v in ("used", "limit", "remaining") for v in value):
        raise _Invalid(where, "a list of the figures that may be absent: used, limit (then: no limit), remaining")
    return frozenset(value)


def _severity(value: Any, where: str) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        raise _Invalid(where, f"must be warning, critical or info, got {_show(value)}") from None


def _conditions(value: Any) -> tuple[ConditionSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or len(value) > MAX_CONDITIONS:
        raise _Invalid("conditions", f"must map up to {MAX_CONDITIONS} condition names to their rules")
    specs = []
    for name, spec in value.items():
        where = f"conditions.{_name(name)}"
        if not isinstance(name, str) or not _METER_NAME.fullmatch(name) or name.endswith("*"):
            raise _Invalid(where, "a condition's name is lower-case letters, digits and '_'")
        specs.append(_condition(name, spec, where, _CONDITION_FIELDS))
        if sum(k in spec for k in ("when", "when_true", "when_false")) != 1:
            raise _Invalid(where, "needs one of: when (an expression), when_true or when_false (a true/false field)")
    return tuple(specs)


def _condition(name: str, spec: Any, where: str, allowed: set[str]) -> ConditionSpec:
    if not isinstance(spec, dict):
        raise _Invalid(where, f"must be a mapping with when, severity and message, got {_show(spec)}")
    unknown = set(spec) - allowed
    if unknown:
        raise _Invalid(f"{where}.{_first_name(unknown)}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
    try:
        message = compile_template(spec.get("message"))
    except ExpressionError as exc:
        raise _Invalid(f"{where}.message", str(exc)) from None
    flag_field = "when_true" if "when_true" in spec else "when_false" if "when_false" in spec else None
    return ConditionSpec(
        name=name,
        severity=_severity(spec.get("severity"), f"{where}.severity"),
        message=message,
        when=_expression(spec["when"], f"{where}.when") if "when" in spec else None,
        flag=_expression(spec[flag_field], f"{where}.{flag_field}") if flag_field else None,
        flag_raises=flag_field == "when_true",
    )


def _refusals(value: Any) -> tuple[RefusalSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_CONDITIONS:
        raise _Invalid("refusals", f"must be a list of up to {MAX_CONDITIONS} refusals")
    refusals = []
    for index, spec in enumerate(value):
        where = f"refusals[{index}]"
        if not isinstance(spec, dict):
            raise _Invalid(where, f"must be a mapping with status, condition, severity and message, got {_show(spec)}")
        status = spec.get("status")
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise _Invalid(f"{where}.status", f"must be an HTTP error status (400 to 599), got {_show(status)}")
        name = spec.get("condition")
        if not isinstance(name, str) or not _METER_NAME.fullmatch(name) or name.endswith("*"):
            raise _Invalid(f"{where}.condition", "required: the condition's name (lower-case letters, digits, '_')")
        refusals.append(RefusalSpec(status, _condition(name, spec, where, _REFUSAL_FIELDS)))
    return tuple(refusals)


def _period(value: Any) -> PeriodSpec | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value or set(value) - {"start", "end", "monthly"}:
        raise _Invalid("period", "a mapping with start and/or end (expressions), or monthly: DAY (1 to 31)")
    if "monthly" in value:
        day = value["monthly"]
        if len(value) > 1 or isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 31:
            raise _Invalid("period.monthly", f"the day of the month the period starts (1 to 31), got {_show(day)}")
        return PeriodSpec(monthly_on=day)
    return PeriodSpec(
        start=_expression(value["start"], "period.start") if "start" in value else None,
        end=_expression(value["end"], "period.end") if "end" in value else None,
    )
