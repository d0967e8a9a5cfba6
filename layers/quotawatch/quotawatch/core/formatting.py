"""Numbers and dates as a person reads them."""

from __future__ import annotations

from datetime import UTC, datetime

_BYTE_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def quantity(value: float | None, unit: str) -> str:
    """842 calls, 1.5 GB, 384,200 ms, $4.50."""
    if value is None:
        return "?"
    if unit == "bytes":
        return _bytes(value)
    if unit == "USD":
        return f"${value:,.2f}"
    return f"{number(value)} {unit}".rstrip()


def fraction(used: float | None, limit: float | None, unit: str) -> str:
    """'820 of 1,000 calls', '1.0 GB of 5.0 GB', '$1.20 of $5.00'."""
    if unit in ("bytes", "USD"):
        return f"{quantity(used, unit)} of {quantity(limit, unit)}"
    shown = number(used) if used is not None else "?"
    return f"{shown} of {quantity(limit, unit)}"


def number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _bytes(value: float) -> str:
    size = float(value)
    for unit in _BYTE_UNITS:
        if abs(size) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def percent(value: float) -> str:
    """Whole percent, except just under a limit where 99.6% must not read as 100%."""
    if 99 < value < 100:
        return f"{value:.1f}%"
    return f"{value:.0f}%"


def day(value: datetime) -> str:
    """'Dec 1' - short enough for a subject line and an SMS."""
    value = value.astimezone(UTC)
    return f"{value:%b} {value.day}"


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
