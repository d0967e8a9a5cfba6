"""One chart per meter, drawn by matplotlib (the `report` extra) as a PNG.

Imported only when a report is written: the Lambda layer never ships matplotlib. Figures
are made without pyplot (no global state, no display needed) and saved with Agg.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo

from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from quotawatch.core import formatting as fmt

# Each line has a colour of its own, so a look at the pixels tells them apart (the report's test does).
USED, LIMIT, FORECAST = "#1f5fbf", "#c0392b", "#8e44ad"
WARNING_BAND, CRITICAL_BAND = "#f2c14e", "#d64545"
BURN = "#e67e22"  # burn alerts and the windows they burned in
SEVERITY = {"critical": "#b00020", "warning": "#c77700", "info": "#2e7d32"}


@dataclass(frozen=True)
class Series:
    """What one meter's chart shows; built by report.py from the stored readings."""

    title: str
    unit: str
    times: list[datetime]
    values: list[float | None]  # use, or a balance's remaining; None: no figure (a gap)
    limits: list[float | None]
    warning: tuple[float, float] | None = None  # the warning band (low, high) in the meter's unit
    critical: tuple[float, float] | None = None
    resets: list[datetime] = field(default_factory=list)
    forecast: tuple[datetime, float, datetime, float] | None = None  # from (time, value) to (time, value)
    forecast_label: str = "forecast"
    messages: list[tuple[datetime, float, str]] = field(default_factory=list)  # time, value, severity
    failures: list[datetime] = field(default_factory=list)  # checks that failed: no figure then
    burns: list[tuple[datetime, datetime]] = field(default_factory=list)  # burning: from, to (shaded)
    burn_alerts: list[tuple[datetime, float]] = field(default_factory=list)  # burn raised: time, value


def chart_png(series: Series, zone: tzinfo) -> bytes:
    series, unit = _readable_scale(series)
    figure = Figure(figsize=(8.0, 3.2), dpi=100, layout="constrained")
    axes = figure.subplots()
    if series.warning:
        axes.axhspan(*series.warning, color=WARNING_BAND, alpha=0.18, linewidth=0, label="warning band")
    if series.critical:
        axes.axhspan(*series.critical, color=CRITICAL_BAND, alpha=0.15, linewidth=0, label="critical band")
    for i, (start, end) in enumerate(series.burns):
        span = float(date2num(start)), float(date2num(end))  # type: ignore[no-untyped-call]
        axes.axvspan(*span, color=BURN, alpha=0.2, linewidth=0, label="burning" if i == 0 else None)
    axes.plot(
        series.times,
        [float("nan") if v is None else v for v in series.values],
        color=USED,
        marker=".",
        markersize=4,
        linewidth=1.6,
        label=series.title.split(": ")[-1],
    )
    if any(limit is not None for limit in series.limits):
        limits = [float("nan") if v is None else v for v in series.limits]
        # Not antialiased: a level line stays crisp (and its own colour) over the critical band.
        axes.step(series.times, limits, where="post", color=LIMIT, linewidth=2, antialiased=False, label="limit")
    for i, at in enumerate(series.resets):
        x = float(date2num(at))  # type: ignore[no-untyped-call]
        axes.axvline(x, color="#777777", linestyle=":", linewidth=1.2, label="period reset" if i == 0 else None)
    if series.forecast:
        start, low, end, high = series.forecast
        axes.plot([start, end], [low, high], color=FORECAST, linestyle="--", linewidth=1.4, label=series.forecast_label)
    for severity in ("info", "warning", "critical"):
        points = [(at, value) for at, value, s in series.messages if s == severity]
        if points:
            label = "message sent" if severity != "info" else "all-clear sent"
            axes.scatter(
                [p[0] for p in points],
                [p[1] for p in points],
                marker="v",
                s=60,
                zorder=5,
                color=SEVERITY[severity],
                label=f"{label} ({severity})" if severity != "info" else label,
            )
    if series.burn_alerts:
        axes.scatter([a[0] for a in series.burn_alerts], [a[1] for a in series.burn_alerts], marker="*", s=110,
                     zorder=6, color=BURN, label="burn alert")  # fmt: skip
    if series.failures:  # on the time axis: a failed check has no figure, and is not zero
        axes.scatter(series.failures, [0.0] * len(series.failures), marker="x", s=40, zorder=5, clip_on=False,
                     color="#555555", label="check failed")  # fmt: skip
    locator = AutoDateLocator(tz=zone)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=zone))  # type: ignore[no-untyped-call]
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _tick(value, unit)))
    axes.set_ylabel(unit if unit != "USD" else "")
    axes.set_title(series.title, loc="left", fontsize=11)
    axes.grid(True, alpha=0.25)
    figure.legend(loc="outside lower center", fontsize=7, ncols=4, frameon=False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _tick(value: float, unit: str) -> str:
    """Axis figures as the rest of QuotaWatch writes them: $4.50, 600,000, 1.5."""
    return fmt.quantity(value, unit) if unit == "USD" else fmt.number(value)


_BYTES = ("bytes", "KB", "MB", "GB", "TB", "PB")


def _readable_scale(series: Series) -> tuple[Series, str]:
    """Bytes in the unit that keeps the axis figures short (KB, MB, GB: powers of 1,024, as
    fmt.quantity writes them), so that ticks fall on round numbers of it."""
    if series.unit != "bytes":
        return series, series.unit
    largest = max((v for v in [*series.values, *series.limits] if v is not None), default=0.0)
    power = 0
    while largest >= 1024 ** (power + 1) and power < len(_BYTES) - 1:
        power += 1
    scale = 1024.0**power

    def scaled(v: float | None) -> float | None:
        return None if v is None else v / scale

    def band(b: tuple[float, float] | None) -> tuple[float, float] | None:
        return None if b is None else (b[0] / scale, b[1] / scale)

    resized = replace(
        series,
        values=[scaled(v) for v in series.values],
        limits=[scaled(v) for v in series.limits],
        warning=band(series.warning),
        critical=band(series.critical),
        forecast=None if series.forecast is None else
        (series.forecast[0], series.forecast[1] / scale, series.forecast[2], series.forecast[3] / scale),
        messages=[(at, value / scale, severity) for at, value, severity in series.messages],
        burn_alerts=[(at, value / scale) for at, value in series.burn_alerts],
    )  # fmt: skip
    return resized, _BYTES[power]
