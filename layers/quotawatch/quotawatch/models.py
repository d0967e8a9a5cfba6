"""The files a user writes as typed models, validated by msgspec (a third of pydantic's cold
import, bench/config_load.py); a provider declaration's are in providers/schema.py, with the
JSON Schemas generated from them. `check_fields` gives one line per wrong field; rules a
schema cannot say are in config.py and providers/declaration.py, run on the fields that are
right.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, TypeAlias, TypeVar, Union, get_args, get_origin

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

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
    no mapping). msgspec stops at the first, so then each field is converted alone, and each
    part of one that is wrong: the model holds the right fields and None for wrong required
    ones, so the rules a schema cannot say still check what is right, each problem once."""
    if not isinstance(data, dict):
        raise InvalidField("-", f"must be a mapping of fields, got {show(data)}")
    try:
        return msgspec.convert(data, model, dec_hook=dec_hook), []
    except msgspec.ValidationError as exc:
        error = str(exc)
    right, found = _fields(data, model, dec_hook)
    return model(**right), found or [InvalidField("-", clip(error, 200))]  # else a rule of the whole model


def required(model: type[Struct], name: str) -> InvalidField:
    """A required field that is missing, and what it takes."""
    return InvalidField(name, f"required: {_describe(_struct_fields(model)[name].type)}")


_WRONG = object()  # what a wrong value converts to
_UNIONS = (Union, UnionType)


def _fields(data: dict[Any, Any], model: type[Struct], hook: DecHook) -> tuple[dict[str, Any], list[InvalidField]]:
    """Each field of a mapping converted alone: the right ones (None for a wrong required one),
    and every wrong one."""
    fields = _struct_fields(model)
    right: dict[str, Any] = {name: None for name, info in fields.items() if info.required}
    found: list[InvalidField] = []
    for key, value in data.items():
        if key not in fields:
            why = f"unknown field (allowed: {', '.join(sorted(fields))})" if isinstance(key, str) else ""
            found.append(InvalidField(show_key(key), why or "a name must be text (quote it)"))
            continue
        converted, wrong = _value(value, fields[key].type, show_key(key), hook)
        found += wrong
        if converted is not _WRONG:
            right[key] = converted
    return right, found + [required(model, n) for n, info in fields.items() if info.required and n not in data]


def _value(value: Any, kind: Any, at: str, hook: DecHook) -> tuple[Any, list[InvalidField]]:
    """The value as `kind`; or, when it is not one, every wrong part of it at its path (`at`),
    and a mapping's right entries (else _WRONG)."""
    try:
        return msgspec.convert(value, kind, dec_hook=hook), []
    except msgspec.ValidationError as exc:
        error = str(exc)
    inner, _ = _bare(_container(kind, value))
    found: list[InvalidField] = []
    kept: Any = _WRONG
    if _is_struct(inner):
        found = [InvalidField(f"{at}.{w.field}".removesuffix(".-"), str(w)) for w in _fields(value, inner, hook)[1]]
    elif get_origin(inner) is dict:
        key_kind, value_kind = get_args(inner)
        kept = {}
        for key, item in value.items():
            path = f"{at}.{show_key(key)}"
            not_text = [InvalidField(path, "a name must be text (quote it)")]
            name, wrong_name = _value(key, key_kind, path, hook) if isinstance(key, str) else (_WRONG, not_text)
            converted, wrong = _value(item, value_kind, path, hook)
            found += wrong_name + wrong
            if name is not _WRONG and converted is not _WRONG:
                kept[name] = converted
    elif get_origin(inner) is list:
        for index, item in enumerate(value):
            found += _value(item, get_args(inner)[0], f"{at}[{index}]", hook)[1]
    if found:
        return kept, found
    # No part wrong alone: the whole is (a list too long, a rule of the model's own, a plain value).
    what = error.split(" - at `$", 1)[0]
    if not what.startswith(("Expected", "Invalid enum value")) and what != "Number out of range":
        return _WRONG, [InvalidField(at, clip(what, 200))]  # a rule of the model's own, an expression's
    return _WRONG, [InvalidField(at, f"must be {_describe(kind, isinstance(value, dict))}, got {show(value)}")]


def _container(kind: Any, value: Any) -> Any:
    """The struct, mapping or list type among `kind`'s that `value` (a mapping or a list) is."""
    bare = _bare(kind)[0]
    for option in get_args(bare) if get_origin(bare) in _UNIONS else (kind,):
        inner = _bare(option)[0]
        if isinstance(value, dict) and (get_origin(inner) is dict or _is_struct(inner)):
            return option
        if isinstance(value, list) and get_origin(inner) is list:
            return option
    return None


def _is_struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, Struct)


def _bare(kind: Any) -> tuple[Any, list[Meta]]:
    """The type under `Annotated`, and its constraints."""
    if get_origin(kind) is not Annotated:
        return kind, []
    inner, *extra = get_args(kind)
    return inner, [meta for meta in extra if isinstance(meta, Meta)]


# Read from the annotations: slow, so once.
@functools.cache
def _struct_fields(model: type[Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    return {field.name: field for field in msgspec.structs.fields(model)}


_KINDS = {bool: "true or false", int: "a whole number", float: "a number", dict: "a mapping", list: "a list"}


def _describe(kind: Any, mapping: bool = True) -> str:
    """What a value of this type is, for an error: the model's description, else its kind
    (`mapping`: False when the value is no mapping, so a mapping is not offered)."""
    kind, metas = _bare(kind)
    if described := [meta.description for meta in metas if meta.description]:
        return described[-1]
    if get_origin(kind) in _UNIONS:
        options = [k for k in get_args(kind) if k not in (NoneType, UnsetType)]
        options = [k for k in options if mapping or _container(k, {}) is None] or options
        return " or ".join(dict.fromkeys(_describe(k) for k in options))
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(sorted(str(v) for v in get_args(kind)))
    if kind is str:
        longest = next((meta.max_length for meta in metas if meta.max_length is not None), None)
        return "text" if longest is None else f"text of at most {longest} characters"
    if _is_struct(kind):
        return "a mapping"
    return _KINDS.get(get_origin(kind) or kind, "a value of another kind")
