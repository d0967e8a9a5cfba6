"""The files a user writes as typed models, validated by msgspec (a third of pydantic's cold
import, bench/config_load.py); their JSON Schemas are generated from them. `check_fields`
gives one line per wrong field; rules a schema cannot say are in config.py,
channel_config.py and providers/declaration.py, run on the fields that are right.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType, inspect

from quotawatch.core.window import WINDOW_SIZE
from quotawatch.echo import InvalidField, clip, show, show_key

Name = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}(?!\n)$", description="lower-case letters, digits, '-' and '_', at most 63"
    ),
]
Percent = Annotated[float, Meta(gt=0, le=100, description="a percentage above 0 and at most 100")]
# lt 1e308: no infinity (and NaN fails every bound).
Amount = Annotated[float, Meta(ge=0, lt=1e308, description="an amount of 0 or more")]
Limit = Annotated[float, Meta(gt=0, lt=1e308, description="an amount above 0 (the meter's limit, in its unit)")]
Line = Annotated[str, Meta(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$")]
SecretField = Annotated[
    Line, Meta(description="one line of printable characters, at most 256: a field of the API-keys secret")
]
Url = Annotated[
    str, Meta(max_length=2048, pattern=r"^\S+$", description="an https:// URL without spaces, at most 2048 characters")
]
Param = Annotated[str, Meta(min_length=1, max_length=200, description="one line of text of at most 200")]
Patterns = Annotated[list[Annotated[str, Meta(min_length=1, max_length=200)]], Meta(min_length=1, max_length=50)]


_M = TypeVar("_M", bound=Struct)


class Model(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    pass


Duration = Annotated[
    str, Meta(pattern=r"^[0-9]{1,4}(min|h)$", description="a whole number of minutes or hours: 30min, 1h, 6h")
]


class BurnModel(Model, kw_only=True):
    """`burn:` the burn-rate alert (core/burn.py): the fields to change of what is inherited."""

    factor: (
        Annotated[float, Meta(gt=1, le=1000, description="a number above 1 and at most 1000 (times the usual rate)")]
        | UnsetType
    ) = UNSET
    short: Duration | UnsetType = UNSET
    long: Duration | UnsetType = UNSET
    min_spend: Amount | UnsetType = UNSET


# `burn: off` (or false) turns it off, `burn: on` back on with what is inherited.
BurnField = BurnModel | bool | None


class ThresholdsModel(Model, kw_only=True):
    warning: Percent | UnsetType = UNSET
    critical: Percent | UnsetType = UNSET


class Floors(Model, kw_only=True):
    warning: Amount | UnsetType = UNSET
    critical: Amount | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.warning is UNSET and self.critical is UNSET:
            raise ValueError("a number, or a mapping with 'warning' and/or 'critical'")
        both = not isinstance(self.warning, UnsetType) and not isinstance(self.critical, UnsetType)
        if both and self.warning < self.critical:  # type: ignore[operator]
            raise ValueError("the warning floor must not be below the critical floor")


class MeterModel(ThresholdsModel, kw_only=True):
    min_remaining: Amount | Floors | None = None
    limit: Limit | UnsetType = UNSET
    burn: BurnField = None


class MonthlyModel(Model, kw_only=True):
    monthly: Annotated[int, Meta(ge=1, le=31, description="the day of the month the period starts (1 to 31)")]


class Policy(Model, kw_only=True):
    """How alerts behave over time: under `defaults` and per monitor."""

    remind_every_hours: Annotated[float, Meta(ge=0, le=24 * 365)] | UnsetType = UNSET
    hysteresis: Annotated[float, Meta(ge=0, le=50)] | UnsetType = UNSET
    # Failures are counted in the window of recent readings, so no more than it holds.
    failures_before_alert: Annotated[int, Meta(ge=1, le=WINDOW_SIZE)] | UnsetType = UNSET
    forecast_days: Annotated[float, Meta(ge=0, le=366)] | UnsetType = UNSET
    burn: BurnField = None


class Defaults(Policy, kw_only=True):
    thresholds: ThresholdsModel | None = None


class MonitorModel(Policy, kw_only=True):
    id: Name
    provider: Annotated[str, Meta(min_length=1, max_length=200)]
    secret_field: SecretField
    enabled: bool = True
    base_url: Url | None = None
    params: dict[str, Param | int] | None = None
    thresholds: ThresholdsModel | None = None
    meters: dict[str, MeterModel | None] | None = None
    period: MonthlyModel | None = None  # the month starts on another day than the provider's


class ChannelModel(Model, kw_only=True):
    name: Name
    type: Literal["slack", "teams", "discord", "pagerduty", "webhook"]
    secret_field: SecretField
    min_severity: Literal["info", "warning", "critical"] | UnsetType = UNSET
    monitors: Patterns | str = msgspec.field(default_factory=lambda: ["*"])
    signals: Patterns | str = msgspec.field(default_factory=lambda: ["*"])
    url: Url | UnsetType = UNSET
    signing_secret_field: SecretField | UnsetType = UNSET


class MonitorsFile(Model, kw_only=True):
    """The whole file, for its JSON Schema (entries are validated one by one)."""

    monitors: Annotated[list[MonitorModel], Meta(max_length=20_000)]
    defaults: Defaults | None = None
    channels: Annotated[list[ChannelModel], Meta(max_length=20)] | None = None
    providers: dict[str, Declaration] | None = None


def check_fields(data: Any, model: type[_M]) -> tuple[_M | None, list[InvalidField]]:
    """`data` as the model, and every wrong field in the file's words (msgspec stops at the
    first). With wrong fields, the model holds the right ones and None for wrong required
    ones, so the rules a schema cannot say still check what is right, each problem once."""
    if not isinstance(data, dict):
        return None, [InvalidField("-", f"must be a mapping of fields, got {show(data)}")]
    try:
        return msgspec.convert(data, model), []
    except msgspec.ValidationError as exc:
        error = str(exc)
    fields = _fields(model)
    right: dict[str, Any] = {name: None for name, info in fields.items() if info.required}
    found: list[InvalidField] = []
    for key, value in data.items():  # each field converted on its own, in the order written
        if key not in fields:
            allowed = ", ".join(sorted(fields))
            why = f"unknown field (allowed: {allowed})" if isinstance(key, str) else "a name must be text (quote it)"
            found.append(InvalidField(show_key(key), why))
            continue
        one = _one_field(model, key)
        try:
            right[key] = getattr(msgspec.convert({key: value}, one), key)
        except msgspec.ValidationError as exc:  # a mapping's entries one by one (msgspec names no key):
            split = "[...]" in str(exc) and isinstance(value, dict)  # each wrong one told, the right ones kept
            kept: dict[Any, Any] = {}
            for part in [{k: v} for k, v in value.items()] if split else [value]:
                try:
                    kept.update(getattr(msgspec.convert({key: part}, one), key))
                except msgspec.ValidationError as wrong:
                    found.append(_explain(str(wrong), {key: part}, one))
            if split:
                right[key] = kept
    found += [required(model, name) for name, info in fields.items() if info.required and name not in data]
    if not found:  # every field is right alone: a rule of the model's own (__post_init__)
        return None, [_explain(error, data, model)]
    return model(**right), found


def required(model: type[Any], name: str) -> InvalidField:
    """A required field that is missing, and what it takes."""
    return InvalidField(name, f"required: {_describe(_type_at(model, [name]))}")


@functools.cache
def _fields(model: Any) -> dict[str, msgspec.structs.FieldInfo]:
    return {f.name: f for f in msgspec.structs.fields(model)}  # read from the annotations: slow, so once


@functools.cache
def _one_field(model: Any, name: str) -> type[Any]:
    """A model of one of `model`'s fields, to check that field's value on its own."""
    kind = _fields(model)[name].type
    return msgspec.defstruct(f"{model.__name__}_{name}", [(name, kind, UNSET)], forbid_unknown_fields=True)


_AT = re.compile(r"^(?P<what>.*?)(?: - at `(?P<key>key` in `)?\$(?P<path>[^`]*)`)?$", re.DOTALL)
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|(\[\.\.\.\])")


def _explain(error: str, data: Any, model: type[Any]) -> InvalidField:
    match = _AT.match(error)
    what, path = (match["what"], match["path"] or "") if match else (error, "")
    steps: list[Any] = []
    value: Any = data
    for name, index, _hidden in _STEP.findall(path):  # a key msgspec leaves out: its mapping's one (check_fields)
        steps.append(name or (int(index) if index else next(iter(value), "?")))
        value = value[steps[-1]] if isinstance(value, (dict, list)) else None
    kind = _type_at(model, steps)
    field = ".".join(show_key(s) if isinstance(s, str) else f"[{s}]" for s in steps).replace(".[", "[") or "-"
    if match and match["key"]:
        odd = [k for k in value if not isinstance(k, str)] if isinstance(value, dict) else []
        return InvalidField(
            f"{field}.{show_key(odd[0]) if odd else '?'}".lstrip("-."), "a name must be text (quote it)"
        )
    unknown = re.match(r"Object contains unknown field `(.*)`$", what, re.DOTALL)
    if unknown:
        struct = _unwrap(kind, "")
        allowed = ", ".join(sorted(f.name for f in struct.fields)) if isinstance(struct, inspect.StructType) else ""
        names = [k for k in value if not isinstance(k, str) or k == unknown[1]] if isinstance(value, dict) else []
        shown = show_key(names[0]) if names else clip(unknown[1])
        return InvalidField(f"{field}.{shown}".lstrip("-."), f"unknown field (allowed: {allowed})")
    missing = re.match(r"Object missing required field `(.*)`$", what)
    if missing:
        sub = _type_at(model, [*steps, missing[1]])
        return InvalidField(f"{field}.{missing[1]}".lstrip("-."), f"required: {_describe(sub)}")
    if not what.startswith(("Expected", "Invalid enum value")) and what != "Number out of range":
        return InvalidField(field, clip(what, 200))  # a rule of the model's own (__post_init__)
    if isinstance(kind, inspect.UnionType) and not isinstance(value, dict):  # a number, not a mapping of them
        kind = inspect.UnionType(tuple(t for t in kind.types if not isinstance(t, inspect.StructType)))
    return InvalidField(field, f"must be {_describe(kind)}, got {show(value)}")


@functools.cache
def _type_info(model: type[Any]) -> Any:
    return inspect.type_info(model)  # the whole tree of the model's types: built once


def _type_at(model: type[Any], steps: list[Any]) -> Any:
    """The msgspec type at a path of the model (None past what the model says)."""
    kind: Any = _type_info(model)  # type: ignore[arg-type]
    for step in steps:
        kind = _unwrap(kind, step)
        if isinstance(kind, inspect.StructType):
            kind = next((f.type for f in kind.fields if f.name == step), None)
        elif isinstance(kind, inspect.DictType):
            kind = kind.value_type
        elif isinstance(kind, inspect.ListType):
            kind = kind.item_type
        else:
            return None
    return kind


def _unwrap(kind: Any, step: Any) -> Any:
    """The type under metadata and unions: the struct, mapping or list a step goes into."""
    while isinstance(kind, inspect.Metadata):
        kind = kind.type
    if isinstance(kind, inspect.UnionType):
        shapes = [_unwrap(t, step) for t in kind.types if not isinstance(t, inspect.NoneType)]
        wanted = (inspect.StructType, inspect.DictType) if isinstance(step, str) else (inspect.ListType,)
        into = [t for t in shapes if isinstance(t, wanted)]
        return into[0] if into and step is not None else (shapes[0] if len(shapes) == 1 else kind)
    return kind


def _describe(kind: Any) -> str:
    """What a value of this type is, for an error: the model's description, else its kind."""
    if isinstance(kind, inspect.Metadata):
        described = (kind.extra_json_schema or {}).get("description")
        return str(described) if described else _describe(kind.type)
    if isinstance(kind, inspect.UnionType):
        kinds = [k for k in kind.types if not isinstance(k, inspect.NoneType)]
        return " or ".join(dict.fromkeys(_describe(k) for k in kinds))
    if isinstance(kind, inspect.LiteralType):
        return "one of " + ", ".join(str(v) for v in kind.values)
    if isinstance(kind, inspect.BoolType):
        return "true or false"
    if isinstance(kind, inspect.IntType):
        return f"a whole number{_range(kind)}"
    if isinstance(kind, inspect.FloatType):
        return f"a number{_range(kind)}"
    if isinstance(kind, inspect.StrType):
        return "text" if kind.max_length is None else f"text of at most {kind.max_length} characters"
    if isinstance(kind, (inspect.StructType, inspect.DictType)):
        return "a mapping"
    if isinstance(kind, inspect.ListType):
        return "a list"
    return "a value of another kind"


def _range(kind: Any) -> str:
    low = f"{kind.ge:g}" if kind.ge is not None else f"above {kind.gt:g}" if kind.gt is not None else None
    high = kind.le if kind.le is not None and kind.le < 1e300 else None
    if low is not None and high is not None:
        return f" from {low} to {high:g}" if kind.ge is not None else f" {low} and at most {high:g}"
    return f" of {low} or more" if low is not None and kind.ge is not None else f" {low}" if low else ""


# --- provider declarations (providers/declaration.py compiles them) -------------------------

DeclName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z][a-z0-9_-]{0,39}(?!\n)$",
        description="lower-case letters, digits, '-' and '_', at most 40, starting with a letter",
    ),
]
OneLine = Annotated[
    str, Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$", description="one line of text of at most 200")
]
Expr = Annotated[str, Meta(min_length=1, max_length=1000, description="an expression (JMESPath, or a plain path)")]
Severity = Literal["warning", "critical", "info"]


HeaderName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$", description="a header's name")]


class AuthModel(Model, kw_only=True):
    header: HeaderName | UnsetType = UNSET
    format: Annotated[str, Meta(max_length=100, description="holding {key} once, e.g. 'Bearer {key}'")] | (
        UnsetType
    ) = UNSET
    query: Annotated[str, Meta(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$", description="a parameter's name")] | (
        UnsetType
    ) = UNSET
    basic: Literal[True] | UnsetType = UNSET


class MeterDeclaration(Model, kw_only=True):
    unit: Annotated[str, Meta(description="calls, requests, characters, credits, bytes, GB, ms, USD, EUR...")]
    used: Expr | UnsetType = UNSET
    limit: Expr | UnsetType = UNSET
    remaining: Expr | UnsetType = UNSET
    unit_from: Expr | UnsetType = UNSET
    scale: Annotated[float, Meta(gt=0, lt=1e12, description="a number above 0 (0.01 turns cents into dollars)")] = 1.0
    unlimited: float | list[float | None] | UnsetType | None = UNSET
    # true, an expression (the meter may be absent when it holds), or the figures that may be absent
    optional: bool | Expr | list[Literal["used", "limit", "remaining"]] = False
    each: Expr | UnsetType = UNSET
    key: Expr | UnsetType = UNSET


class ConditionDeclaration(Model, kw_only=True):
    severity: Severity
    message: Annotated[str, Meta(description="a message template such as 'plan {plan}[ until {end}]'")]
    when: Expr | UnsetType = UNSET
    when_true: Expr | UnsetType = UNSET
    when_false: Expr | UnsetType = UNSET


class RefusalDeclaration(Model, kw_only=True):
    status: Annotated[int, Meta(ge=400, le=599, description="an HTTP error status (400 to 599)")]
    condition: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="the condition's name")]
    severity: Severity
    message: str
    when: Expr | UnsetType = UNSET


class PeriodDeclaration(Model, kw_only=True):
    start: Expr | UnsetType = UNSET
    end: Expr | UnsetType = UNSET
    monthly: Annotated[int, Meta(ge=1, le=31, description="the day of the month the period starts (1 to 31)")] | (
        UnsetType
    ) = UNSET
    resets_in: Expr | UnsetType = UNSET  # the end as a time from now: seconds or "6m0s"


class PagesDeclaration(Model, kw_only=True):
    """How an answer continues on further pages (a cursor sent back as a query parameter)."""

    next: Expr
    param: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="a query parameter's name")]
    more: Expr | UnsetType = UNSET
    max: Annotated[int, Meta(ge=1, le=100, description="the most pages read (1 to 100)")] = 10


class KeyDeclaration(Model, kw_only=True):
    """What the key looks like and where to create one: for people, never used to send it."""

    format: OneLine = ""  # e.g. "api:<key>", "<AccountSid>:<AuthToken>"
    where: OneLine = ""  # the page (or the place in the provider's console) that issues it


class Declaration(Model, kw_only=True):
    """A provider declaration: a file of the catalogue, providers/<name>.yaml, or an entry of
    `providers:` in monitors.yaml (where `name` may be left out)."""

    name: DeclName | UnsetType = UNSET
    display_name: OneLine | UnsetType = UNSET
    docs: Annotated[str, Meta(pattern=r"^https://\S*$", description="the https:// address of the docs")] | (
        UnsetType
    ) = UNSET
    measures: OneLine | UnsetType = UNSET
    url: Url | UnsetType = UNSET
    base_url: Url | UnsetType = UNSET
    path: Annotated[str, Meta(pattern=r"^(/[^\s?#]*)?$", description="a path starting with '/'")] = ""
    query: dict[str, str | int | float | bool] | None = None
    headers: dict[HeaderName, OneLine] | None = None  # sent as they are, beside auth's (an API version)
    method: Literal["GET", "POST"] = "GET"
    body: dict[str, Any] | str | UnsetType = UNSET  # POST's: a mapping sent as JSON, or text
    content_type: (
        Annotated[str, Meta(pattern=r"^[\w.+-]+/[\w.+-]+(; ?[\w-]+=[\w.-]+)?$", description="a media type")] | UnsetType
    ) = UNSET
    pages: PagesDeclaration | UnsetType = UNSET
    auth: str | AuthModel
    params: dict[str, Annotated[str, Meta(description="in one line, what the value is")]] | None = None
    meters: Annotated[dict[str, MeterDeclaration], Meta(max_length=64)] | UnsetType = UNSET
    period: PeriodDeclaration | None = None
    conditions: Annotated[dict[str, ConditionDeclaration], Meta(max_length=32)] | None = None
    refusals: Annotated[list[RefusalDeclaration], Meta(max_length=32)] | None = None
    code: str | UnsetType = UNSET
    key: KeyDeclaration | None = None


SCHEMAS: dict[str, tuple[type[Any], str]] = {
    "monitors": (MonitorsFile, "monitors.yaml"),
    "provider": (Declaration, "a provider declaration"),
}


def schema_of(name: str) -> dict[str, Any]:
    """The JSON Schema published as docs/schema/<name>.schema.json."""
    model, title = SCHEMAS[name]
    schema: dict[str, Any] = msgspec.json.schema(model)
    if model is MonitorsFile:  # x-...: anchors to share, not read (config.py)
        schema["$defs"]["MonitorsFile"]["patternProperties"] = {"^x-": {}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"QuotaWatch: {title}", **schema}


if __name__ == "__main__":  # python -m quotawatch.models NAME > docs/schema/NAME.schema.json
    import json
    import sys

    print(json.dumps(schema_of(sys.argv[1]), indent=2, sort_keys=True))
