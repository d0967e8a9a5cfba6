"""The files a user writes as typed models, validated by msgspec (a third of pydantic's cold
import, bench/config_load.py); a provider declaration's are in providers/schema.py, with the
JSON Schemas generated from them. `check_fields` gives one line per wrong field; rules a
schema cannot say are in config.py and providers/declaration.py, run on the fields that are
right.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeAlias, TypeVar

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType, inspect

from quotawatch.core.window import WINDOW_SIZE
from quotawatch.echo import InvalidField, clip, show, show_key

_M = TypeVar("_M", bound=Struct)
_T = TypeVar("_T")
Maybe: TypeAlias = _T | UnsetType  # UNSET: not written in the file
# Reads a field of a custom type (providers/schema.py compiles expressions as they are read).
DecHook: TypeAlias = Callable[[type[Any], Any], Any] | None

NAME_CHARS = "lower-case letters, digits, '-' and '_', at most"
Name = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}(?!\n)$", description=f"{NAME_CHARS} 63")]
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
Day = Annotated[int, Meta(ge=1, le=31, description="the day of the month the period starts (1 to 31)")]
Duration = Annotated[
    str, Meta(pattern=r"^[0-9]{1,4}(min|h)$", description="a whole number of minutes or hours: 30min, 1h, 6h")
]


class Model(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    pass


class BurnModel(Model, kw_only=True):
    """`burn:` the burn-rate alert (core/burn.py): the fields to change of what is inherited."""

    factor: Maybe[
        Annotated[float, Meta(gt=1, le=1000, description="a number above 1 and at most 1000 (times the usual rate)")]
    ] = UNSET
    short: Maybe[Duration] = UNSET
    long: Maybe[Duration] = UNSET
    min_spend: Maybe[Amount] = UNSET


# `burn: off` (or false) turns it off, `burn: on` back on with what is inherited.
BurnField = BurnModel | bool | None


class ThresholdsModel(Model, kw_only=True):
    warning: Maybe[Percent] = UNSET
    critical: Maybe[Percent] = UNSET


class Floors(Model, kw_only=True):
    warning: Maybe[Amount] = UNSET
    critical: Maybe[Amount] = UNSET

    def __post_init__(self) -> None:
        if self.warning is UNSET and self.critical is UNSET:
            raise ValueError("a number, or a mapping with 'warning' and/or 'critical'")
        both = not isinstance(self.warning, UnsetType) and not isinstance(self.critical, UnsetType)
        if both and self.warning < self.critical:  # type: ignore[operator]
            raise ValueError("the warning floor must not be below the critical floor")


class MeterModel(ThresholdsModel, kw_only=True):
    min_remaining: Amount | Floors | None = None
    limit: Maybe[Limit] = UNSET
    burn: BurnField = None


class MonthlyModel(Model, kw_only=True):
    monthly: Day


class Policy(Model, kw_only=True):
    """How alerts behave over time: under `defaults` and per monitor."""

    remind_every_hours: Maybe[Annotated[float, Meta(ge=0, le=24 * 365, description="a number from 0 to 8760")]] = UNSET
    hysteresis: Maybe[Annotated[float, Meta(ge=0, le=50, description="a number from 0 to 50")]] = UNSET
    # Failures are counted in the window of recent readings, so no more than it holds.
    failures_before_alert: Maybe[
        Annotated[int, Meta(ge=1, le=WINDOW_SIZE, description=f"a whole number from 1 to {WINDOW_SIZE}")]
    ] = UNSET
    forecast_days: Maybe[Annotated[float, Meta(ge=0, le=366, description="a number from 0 to 366")]] = UNSET
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
    min_severity: Maybe[Literal["info", "warning", "critical"]] = UNSET
    monitors: Patterns | str = msgspec.field(default_factory=lambda: ["*"])
    signals: Patterns | str = msgspec.field(default_factory=lambda: ["*"])
    url: Maybe[Url] = UNSET
    signing_secret_field: Maybe[SecretField] = UNSET


def check_fields(data: Any, model: type[_M], dec_hook: DecHook = None) -> tuple[_M, list[InvalidField]]:
    """`data` as the model, and every wrong field in the file's words (InvalidField when it is
    no mapping): msgspec stops at the first, so then each field is converted alone. With wrong
    fields, the model holds the right ones and None for wrong required ones, so the rules a
    schema cannot say still check what is right, each problem once."""
    if not isinstance(data, dict):
        raise InvalidField("-", f"must be a mapping of fields, got {show(data)}")
    converted, found = _right_and_wrong(data, model, dec_hook)
    return (model(**converted), found) if found else (converted, [])


def _right_and_wrong(data: dict[Any, Any], model: type[Struct], dec_hook: DecHook) -> tuple[Any, list[InvalidField]]:
    """The mapping as the model, and no wrong field; or, when it is not one, its right fields
    (converted) and every wrong one, told."""
    try:
        return msgspec.convert(data, model, dec_hook=dec_hook), []
    except msgspec.ValidationError as exc:
        error = str(exc)
    fields = {field.name: field for field in _struct_fields(model)}
    right: dict[str, Any] = {name: None for name, info in fields.items() if info.required}
    found: list[InvalidField] = []
    for key, value in data.items():
        if key not in fields:
            why = f"unknown field (allowed: {', '.join(sorted(fields))})" if isinstance(key, str) else ""
            found.append(InvalidField(show_key(key), why or "a name must be text (quote it)"))
            continue
        kind, before = fields[key].type, len(found)
        try:
            right[key] = msgspec.convert(value, kind, dec_hook=dec_hook)
            continue
        except msgspec.ValidationError as exc:
            wrong = str(exc)
        if deeper := _every_wrong(value, _struct(kind), show_key(key), dec_hook):  # msgspec names one
            found += deeper
            continue
        # msgspec names one wrong item of a list, and no key of a mapping: each converted alone,
        # every wrong one told (a mapping's right entries kept)
        if isinstance(value, list) and "`$[" in wrong:
            parts: list[Any] = [[item] for item in value]
        else:
            parts = [{k: v} for k, v in value.items()] if isinstance(value, dict) and "[...]" in wrong else []
        kept = []
        element = _struct(kind, 0 if isinstance(value, list) else "")
        for index, part in enumerate(parts):
            try:
                kept.append(msgspec.convert(part, kind, dec_hook=dec_hook))
            except msgspec.ValidationError as exc:
                ((name, item),) = enumerate(part, index) if isinstance(part, list) else part.items()
                path = f"{show_key(key)}[{index}]" if isinstance(part, list) else f"{show_key(key)}.{show_key(name)}"
                named = isinstance(part, list) or isinstance(name, str)  # else "a name must be text", below
                if named and (deeper := _every_wrong(item, element, path, dec_hook)):
                    found += deeper
                    continue
                at = str(exc).replace("`$[0]", f"`$[{index}]", 1)
                found.append(_explain(at, value if isinstance(part, list) else part, kind, key))
        if len(found) == before:  # no part wrong alone: the whole is (a list too long)
            found.append(_explain(wrong, value, kind, key))
        elif isinstance(value, dict):
            right[key] = {k: v for part in kept for k, v in part.items()}
    found += [required(model, name) for name, info in fields.items() if info.required and name not in data]
    return right, found or [InvalidField("-", clip(error, 200))]  # else a rule of the whole model


def _every_wrong(value: Any, struct: type[Struct] | None, path: str, dec_hook: DecHook) -> list[InvalidField]:
    """Every wrong field of a mapping that is one struct, at `path`: msgspec stops at the
    first. Empty when the value is no mapping of one, or its fields are all right."""
    if struct is None or not isinstance(value, dict):
        return []
    wrong = _right_and_wrong(value, struct, dec_hook)[1]
    return [InvalidField(path if w.field == "-" else f"{path}.{w.field}", str(w)) for w in wrong]


def _struct(kind: Any, *steps: Any) -> type[Struct] | None:
    """The struct a value of this type is (or its items', or its values', at `steps`), else None."""
    info = _type_info(kind)
    for step in steps:
        info = _into(info, step)
    info = _shape(info, "")
    return info.cls if isinstance(info, inspect.StructType) else None


def required(model: type[Any], name: str) -> InvalidField:
    """A required field that is missing, and what it takes."""
    return InvalidField(name, f"required: {_describe(_into(_type_info(model), name))}")  # type: ignore[arg-type]


# Read from the annotations (a field's) or built for the whole tree (a type's): slow, so once.
_struct_fields = functools.cache(msgspec.structs.fields)
_type_info = functools.cache(inspect.type_info)


_AT = re.compile(r"^(?P<what>.*?)(?: - at `(?P<key>key` in `)?\$(?P<path>[^`]*)`)?$", re.DOTALL)
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|(\[\.\.\.\])")


def _explain(error: str, value: Any, kind: Any, field: str) -> InvalidField:
    """msgspec's error of a field's value in the file's words, at the field and value it names."""
    what, key, path = _AT.match(error).groups("")  # type: ignore[union-attr]  # it matches any text
    steps: list[Any] = [field]
    kind = _type_info(kind)
    for name, index, _hidden in _STEP.findall(path):
        steps.append(name or (int(index) if index else next(iter(value), "?")))  # [...]: its mapping's one key
        kind = _into(kind, steps[-1])
        value = value[steps[-1]] if isinstance(value, (dict, list)) else None
    at = ".".join(show_key(s) if isinstance(s, str) else f"[{s}]" for s in steps).replace(".[", "[")
    names = [k for k in value if not isinstance(k, str)] if isinstance(value, dict) else []
    if key:
        return InvalidField(f"{at}.{show_key(names[0]) if names else '?'}", "a name must be text (quote it)")
    if unknown := re.match(r"Object contains unknown field `(.*)`$", what, re.DOTALL):
        struct = _shape(kind, "")
        allowed = ", ".join(sorted(f.name for f in struct.fields)) if isinstance(struct, inspect.StructType) else ""
        shown = show_key(names[0]) if names else clip(unknown[1])
        return InvalidField(f"{at}.{shown}", f"unknown field (allowed: {allowed})")
    if missing := re.match(r"Object missing required field `(.*)`$", what):
        return InvalidField(f"{at}.{missing[1]}", f"required: {_describe(_into(kind, missing[1]))}")
    if not what.startswith(("Expected", "Invalid enum value")) and what != "Number out of range":
        return InvalidField(at, clip(what, 200))  # a rule of the model's own (__post_init__), an expression's
    if isinstance(kind, inspect.UnionType) and not isinstance(value, dict):  # a number, not a mapping of them
        kind = inspect.UnionType(tuple(t for t in kind.types if not isinstance(t, inspect.StructType)))
    return InvalidField(at, f"must be {_describe(kind)}, got {show(value)}")


def _into(kind: Any, step: Any) -> Any:
    """The msgspec type a step of a path goes into (None past what the model says)."""
    kind = _shape(kind, step)
    if isinstance(kind, inspect.StructType):
        return next((f.type for f in kind.fields if f.name == step), None)
    if isinstance(kind, inspect.DictType):
        return kind.value_type
    return kind.item_type if isinstance(kind, inspect.ListType) else None


def _shape(kind: Any, step: Any) -> Any:
    """The type under metadata and unions: the struct, mapping or list a step goes into."""
    while isinstance(kind, inspect.Metadata):
        kind = kind.type
    if isinstance(kind, inspect.UnionType):
        shapes = [_shape(t, step) for t in kind.types if not isinstance(t, inspect.NoneType)]
        wanted = (inspect.StructType, inspect.DictType) if isinstance(step, str) else (inspect.ListType,)
        into = [t for t in shapes if isinstance(t, wanted)]
        return into[0] if into and step is not None else (shapes[0] if len(shapes) == 1 else kind)
    return kind


_KINDS: dict[type[Any], str] = {
    inspect.BoolType: "true or false",
    inspect.IntType: "a whole number",
    inspect.FloatType: "a number",
    inspect.StructType: "a mapping",
    inspect.DictType: "a mapping",
    inspect.ListType: "a list",
}


def _describe(kind: Any) -> str:
    """What a value of this type is, for an error: the model's description, else its kind."""
    if isinstance(kind, inspect.Metadata):
        described = (kind.extra_json_schema or {}).get("description")
        return str(described) if described else _describe(kind.type)
    if isinstance(kind, inspect.UnionType):
        return " or ".join(dict.fromkeys(_describe(k) for k in kind.types if not isinstance(k, inspect.NoneType)))
    if isinstance(kind, inspect.LiteralType):
        return "one of " + ", ".join(str(v) for v in kind.values)
    if isinstance(kind, inspect.StrType):
        return "text" if kind.max_length is None else f"text of at most {kind.max_length} characters"
    return _KINDS.get(type(kind), "a value of another kind")
