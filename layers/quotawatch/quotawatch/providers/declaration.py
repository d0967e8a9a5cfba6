"""Reading a provider declaration (docs/watch-any-api.md), hostile input like the monitors
file: `declare` returns a Provider or raises DeclarationError with a line per wrong field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from msgspec import UNSET, UnsetType

from quotawatch import models
from quotawatch.core.snapshot import Severity
from quotawatch.core.urls import internal_address
from quotawatch.echo import ConfigError, attempt, clip, show, show_key
from quotawatch.echo import InvalidField as Invalid
from quotawatch.providers import schema
from quotawatch.providers.base import Auth, KeyHelp, Pages, ParsedUsage, Provider
from quotawatch.providers.declared import FIGURES, ConditionSpec, MeterSpec, PeriodSpec, Reading, RefusalSpec, is_unit
from quotawatch.providers.expressions import Expression, ExpressionError, compile_expression, reads_headers
from quotawatch.providers.parsing import TIME_PLACEHOLDERS
from quotawatch.strict_yaml import read_entry, shown_name

_T = TypeVar("_T")
NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_METER_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}(:\*)?")
_PARAM_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_PLACEHOLDER = re.compile(r"\{([^{}\s]*)\}")  # braces around a space are text: GraphQL's "{ viewer }"
MAX_BODY_CHARS = 10_000
_TIMES = "(times: {now:FORM}, {period.start:FORM}, {period.end:FORM}; FORM unix, rfc3339 or date)"


@dataclass(frozen=True)
class CodedReading:
    """How a provider's answers are read: a declaration's reading, or what a provider module
    does in Python where a declaration cannot say it (named by `code:`)."""

    parse: Callable[..., ParsedUsage]
    meter_names: tuple[str, ...]
    condition_names: tuple[str, ...] = ()
    read_refusal: Callable[..., ParsedUsage | None] | None = None
    meter_units: Mapping[str, str] = field(default_factory=dict)
    optional_meters: tuple[str, ...] = ()


_NO_READER = CodedReading(Reading(()).parse, ())

# A declaration that cannot be used; a line per problem, naming file, provider and field.
DeclarationError = ConfigError


def declare(
    data: Any, source: str, name: str | None = None, coded: Mapping[str, CodedReading] | None = None
) -> Provider:
    """The Provider `data` declares; `name` when the place it came from names it (a key of
    `providers:` in monitors.yaml), else its `name` field."""
    shown = clip(name) if name else shown_name(data, "name", "?")
    read = partial(_provider, source=source, name=name, coded=coded or {})
    provider = read_entry(source, data, f"provider '{shown}'", read)
    if isinstance(provider, list):
        raise DeclarationError(provider[0], tuple(provider[1:]))
    return provider


def _provider(data: Any, source: str, name: str | None, coded: Mapping[str, CodedReading]) -> Provider:
    model, shape = models.check_fields(data, schema.Declaration, schema.compiled)
    wrong = {problem.field.split(".")[0].split("[")[0] for problem in shape}
    found = list(shape)  # every rule below is checked, on the fields that are right

    def check(fields: set[str], rule: Callable[[], _T], fallback: _T) -> _T:
        """A rule of fields that are all right: a wrong one is told once, by the model."""
        return fallback if fields & wrong else attempt(found, rule, fallback)

    declared_name = check({"name"}, lambda: _declared_name(model, name), name or "?")
    params = dict(model.params or {})
    for key, about in params.items():
        if not _PARAM_NAME.fullmatch(key) or key == "key":
            found.append(Invalid(f"params.{show_key(key)}", "a parameter's name is lower-case letters, digits and '_'"))
        elif not about.isprintable():
            found.append(Invalid(f"params.{key}", "say in one line what the value is (e.g. 'the Account SID, AC...')"))
    base_url, path = check({"url", "base_url", "path"}, lambda: _endpoint(model), ("", ""))
    query = tuple((k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (model.query or {}).items())
    for key, value in query:
        if not key or not key.isprintable() or not value.isprintable():
            found.append(Invalid(f"query.{show_key(key)}", "a parameter's name and value are one line of text"))
    known = {*params, *TIME_PLACEHOLDERS}
    templated = [("url", base_url + path)] + [(f"query.{k}", v) for k, v in query] + _texts(model.body)
    templated += [(f"headers.{show_key(k)}", v) for k, v in (model.headers or {}).items()]  # "{host}": a param
    for field_name, text in templated:
        check({"params"}, partial(_require_known_placeholders, text, known, field_name), None)
    used = {p for _, text in templated for p in _PLACEHOLDER.findall(text)}
    content_type = check({"body", "method", "content_type"}, lambda: _request_body(model), None)
    for header in model.headers or {}:
        if header.lower() in ("authorization", "content-type", "content-length", "host"):
            why = "a fixed value, not the key's or the body's (auth, content_type)"
            found.append(Invalid(f"headers.{show_key(header)}", why))
    pages = None if isinstance(p := model.pages, UnsetType) else Pages(p.next, p.param, _given(p.more, None), p.max)
    monthly_on = model.period.monthly if model.period and not isinstance(model.period.monthly, UnsetType) else None
    if monthly_on is None and "period" not in wrong and any(u.startswith("period.") for u in used):
        found.append(Invalid("period", "{period...} placeholders need the period: 'period: {monthly: DAY}'"))
    auth = check({"auth"}, lambda: _auth(model.auth), Auth("basic"))  # a fallback is never used: a
    reader = check({"code"}, lambda: _reader(model, coded, wrong), _NO_READER)  # problem is raised first
    if found:
        raise Invalid.of(found)
    expressions = [data.get(f) for f in ("meters", "conditions", "refusals", "period", "pages")]  # as written
    return Provider(
        name=declared_name,
        display_name=_given(model.display_name, declared_name).strip(),
        base_url=base_url,
        path=path,
        auth=auth,
        query=query,
        params=params,
        docs_url=_given(model.docs, ""),
        measures=_given(model.measures, ", ".join(reader.meter_names)).strip(),
        source=source,
        **vars(reader),
        # For people (`quotawatch providers NAME`), never used to send the key.
        key=KeyHelp(model.key.format.strip(), model.key.where.strip()) if model.key else KeyHelp(),
        headers=tuple((model.headers or {}).items()),
        method=model.method,
        body=_given(model.body, None),
        content_type=content_type,
        timed=bool(used & TIME_PLACEHOLDERS),
        monthly_on=monthly_on,
        pages=pages,
        reads_headers=any(reads_headers(text) for _, text in _texts(expressions)),
    )


def _texts(value: Any, where: str = "body") -> list[tuple[str, str]]:
    """Every text in a value (its keys too), by where it is: a body's placeholders may be in any."""
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, dict):
        return [(where, str(k)) for k in value] + [t for k, v in value.items() for t in _texts(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in _texts(v, f"{where}[{i}]")]
    return []


def _request_body(model: schema.Declaration) -> str | None:
    """The body's content type (None: no body)."""
    if isinstance(model.body, UnsetType):
        if model.method == "POST" or not isinstance(model.content_type, UnsetType):
            raise Invalid("body", "required with method: POST and content_type (a mapping sent as JSON, or text)")
        return None
    if model.method != "POST":
        raise Invalid("body", "is sent only with method: POST")
    if not isinstance(model.body, str) and not isinstance(model.content_type, UnsetType):
        raise Invalid("content_type", "a mapping is sent as application/json; content_type is for a text body")
    if len(json.dumps(model.body)) > MAX_BODY_CHARS:
        raise Invalid("body", f"is longer than {MAX_BODY_CHARS:,} characters")
    text = isinstance(model.body, str)
    return _given(model.content_type, "text/plain; charset=utf-8") if text else "application/json"


def _declared_name(model: schema.Declaration, name: str | None) -> str:
    declared_name = name if isinstance(model.name, UnsetType) else model.name
    if declared_name is None:
        raise models.required(schema.Declaration, "name")
    if name is not None and declared_name != name:
        raise Invalid("name", f"is {show(declared_name)} but the declaration is under {show(name)}")
    return declared_name


def _given(value: _T | UnsetType, default: _T) -> _T:
    return default if isinstance(value, UnsetType) else value


def _reader(model: schema.Declaration, coded: Mapping[str, CodedReading], wrong: set[str]) -> CodedReading:
    """How the answers are read: the declared meters, period, conditions and refusals, or the
    code a declaration names under `code:` (then it declares none of those itself); `wrong`:
    the fields the model refused (each told once already)."""
    if not isinstance(model.code, UnsetType):
        if model.code not in coded:
            raise Invalid("code", f"names no coded reader (there are: {', '.join(sorted(coded)) or 'none'})")
        for field_name in ("meters", "conditions", "refusals", "period"):
            if getattr(model, field_name) not in (None, UNSET):
                raise Invalid(field_name, f"is read by the code ({model.code}); declare it there")
        return coded[model.code]
    declared = {} if isinstance(model.meters, UnsetType) else model.meters
    if not declared and "meters" not in wrong:
        raise Invalid("meters", "required: a mapping of meter names to their figures")
    found: list[Invalid] = []  # each meter and condition is checked (a refusal is the model's)
    meters = tuple(m for k, v in declared.items() if (m := attempt(found, partial(_meter, k, v), None)))
    conditions = tuple(
        c for k, v in (model.conditions or {}).items() if (c := attempt(found, partial(_condition, k, v), None))
    )
    refused = tuple(RefusalSpec(r.status, _condition(r.condition, r)) for r in model.refusals or [])
    period = attempt(found, lambda: _period(model.period), None)
    if found:
        raise Invalid.of(found)
    reading = Reading(meters, conditions, period, refused)
    return CodedReading(
        parse=reading.parse,
        meter_names=tuple(m.name for m in meters),
        condition_names=tuple(dict.fromkeys([c.name for c in conditions] + [r.condition.name for r in refused])),
        read_refusal=reading.read_refusal if refused else None,
        meter_units={m.name: m.unit for m in meters},
        optional_meters=tuple(m.name for m in meters if m.optional is True),
    )


def _endpoint(model: schema.Declaration) -> tuple[str, str]:
    """(base_url, path): from `url` split after its host, or from `base_url` and `path`."""
    if not isinstance(model.url, UnsetType):
        if not isinstance(model.base_url, UnsetType) or model.path:
            raise Invalid("url", "give either url, or base_url and path")
        url = _url(model.url, "url")
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        if parts.query:
            raise Invalid("url", "put query parameters under 'query:'")
        return base, url[len(base) :] or "/"
    if isinstance(model.base_url, UnsetType):
        raise Invalid("base_url", "required: the https:// address of the usage endpoint")
    base = _url(model.base_url, "base_url")
    _url(base.rstrip("/") + model.path, "path")
    return base, model.path


def _url(value: str, field_name: str) -> str:
    """An https URL, checked by its form here. The full rule of where a key may go
    (core/urls.py) is applied again to the URL as sent, by the HTTP client; it is not run
    here because it imports requests, which a cold start would pay for every declaration."""
    sample = _PLACEHOLDER.sub("x", value)  # each placeholder stands for a value of the monitor
    try:
        parts = urlsplit(sample)
        usable = parts.scheme == "https" and bool(parts.hostname) and "@" not in parts.netloc and parts.port != 0
    except ValueError:  # a port that is no number, or out of range
        usable = False
    if not usable or not sample.isprintable() or "\\" in sample:
        raise Invalid(field_name, f"must be an https:// URL, got {show(value)}")
    internal = internal_address(str(parts.hostname))
    if internal is not None:
        raise Invalid(field_name, f"names {internal}: a private, link-local or metadata address, not a provider's API")
    return value


def _require_known_placeholders(text: str, known: set[str], field_name: str) -> None:
    for found in _PLACEHOLDER.findall(text):
        why = "the key goes only where 'auth' puts it (never in the URL, query, body or another header)"
        if found != "key" and found not in known:
            why = f"the placeholder {{{clip(found)}}} is not declared under 'params:' " + _TIMES
        if found == "key" or found not in known:
            raise Invalid(field_name, why)


def _auth(value: str | schema.AuthModel) -> Auth:
    if isinstance(value, str):  # "X-Api-Key: {key}", "Authorization: Bearer {key}"
        header, colon, written = value.partition(":")
        if not colon:
            raise Invalid("auth", "a header and its format ('Authorization: Bearer {key}'), or a mapping")
        parsed, wrong = models.check_fields({"header": header.strip(), "format": written.strip()}, schema.AuthModel)
        if wrong:
            raise Invalid.of([Invalid(f"auth.{w.field}", str(w)) for w in wrong])
        value = parsed
    ways = [w for w in ("header", "query", "basic") if not isinstance(getattr(value, w), UnsetType)]
    if len(ways) != 1:
        raise Invalid("auth", "one of: {header: NAME, format: '... {key}'}, {query: NAME} or {basic: true}")
    way, form = ways[0], _given(value.format, None)
    if way != "header" and form is not None:
        raise Invalid(f"auth.{way}", "takes no format (the key is sent as it is)")
    if way != "header":
        return Auth("query", str(value.query)) if way == "query" else Auth("basic")
    form = form or "{key}"
    if form.count("{key}") != 1 or not form.isprintable():
        raise Invalid("auth.format", "must hold {key} once, e.g. 'Bearer {key}'")
    return Auth("header", str(value.header), form)


def _meter(name: str, spec: schema.MeterDeclaration) -> MeterSpec:
    where = f"meters.{show_key(name)}"
    if not _METER_NAME.fullmatch(name):
        raise Invalid(where, "a meter's name is lower-case letters, digits and '_' (a family ends with ':*')")
    expressions = {f: _given(getattr(spec, f), None) for f in (*FIGURES, "each", "key", "unit_from")}
    if expressions["used"] is None and expressions["remaining"] is None:
        raise Invalid(where, "needs 'used' or 'remaining' (any two of used, limit and remaining give the third)")
    if name.endswith(":*") != (spec.each is not UNSET) or name.endswith(":*") != (spec.key is not UNSET):
        raise Invalid(where, "a family (a name ending ':*') needs 'each' (the list) and 'key' (each item's name)")
    if not is_unit(spec.unit):
        raise Invalid(
            f"{where}.unit",
            f"unknown unit {show(spec.unit)}: a currency code (USD, EUR...), a size (bytes, KB, MB, GB, TB, GiB), "
            "a time (ms, s) or a plain lower-case noun (calls, characters)",
        )
    unlimited = spec.unlimited if isinstance(spec.unlimited, list) else [spec.unlimited]
    optional: Expression | bool = spec.optional is True
    try:
        optional = compile_expression(spec.optional) if isinstance(spec.optional, str) else optional
    except ExpressionError as exc:
        raise Invalid(f"{where}.optional", str(exc)) from None
    return MeterSpec(
        name=name,
        unit=spec.unit,
        scale=spec.scale,
        unlimited=None if spec.unlimited is UNSET else tuple(unlimited),  # type: ignore[arg-type]
        optional=optional,
        optional_figures=frozenset(spec.optional) if isinstance(spec.optional, list) else frozenset(),
        **expressions,
    )


def _condition(name: str, spec: schema.ConditionDeclaration | schema.RefusalDeclaration) -> ConditionSpec:
    """A condition (its name and its one `when...` checked here), or a refusal's (its model checks all)."""
    if isinstance(spec, schema.ConditionDeclaration):
        if not _METER_NAME.fullmatch(name) or name.endswith("*"):
            raise Invalid(f"conditions.{show_key(name)}", "a condition's name is lower-case letters, digits and '_'")
        if sum(w is not UNSET for w in (spec.when, spec.when_true, spec.when_false)) != 1:
            why = "needs one of: when (an expression), when_true or when_false (a true/false field)"
            raise Invalid(f"conditions.{name}", why)
    when_true, when_false = getattr(spec, "when_true", UNSET), getattr(spec, "when_false", UNSET)
    return ConditionSpec(
        name=name,
        severity=Severity(spec.severity),
        message=spec.message,
        when=_given(spec.when, None),
        flag=_given(when_true, None) or _given(when_false, None),
        flag_raises=when_true is not UNSET,
    )


def _period(value: schema.PeriodDeclaration | None) -> PeriodSpec | None:
    if value is None:
        return None
    times = {f: _given(getattr(value, f), None) for f in ("start", "end", "resets_in")}
    if value.monthly is UNSET and not any(times.values()):
        raise Invalid("period", "a mapping with start and end or resets_in (expressions), or monthly: DAY (1 to 31)")
    if not isinstance(value.monthly, UnsetType):
        if any(times.values()):
            raise Invalid("period.monthly", "either monthly, or start and end or resets_in")
        return PeriodSpec(monthly_on=value.monthly)
    if times["end"] and times["resets_in"]:
        raise Invalid("period.resets_in", "either end (a time) or resets_in (a time from now)")
    return PeriodSpec(**times)
