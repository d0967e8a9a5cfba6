"""`quotawatch report`: one self-contained HTML file with a chart per meter of every monitor.

Each chart (charts.py) shows the use over time, the limit, the warning and critical
thresholds as bands, period resets, the forecast to the limit (or a balance to zero) at the
current burn rate, and where messages were decided. Charts are PNGs inside the file, so it
opens anywhere without a network. The figures come from the same stored snapshots and the
same core forecast as `status` and the alerts.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

from quotawatch.config import Monitor
from quotawatch.core import formatting as fmt
from quotawatch.core.forecast import Forecast, period_forecast
from quotawatch.core.rules import Level, Thresholds
from quotawatch.core.snapshot import Snapshot
from quotawatch.core.status import MeterStatus
from quotawatch_view.errors import ViewError
from quotawatch_view.history import History, shown_value
from quotawatch_view.times import Zone

if TYPE_CHECKING:
    from quotawatch_view.charts import Series

MIN_PROJECTION = timedelta(days=7)  # the forecast line reaches at least this far ahead


@dataclass(frozen=True)
class ReportContext:
    where: str  # which stack
    since: datetime
    generated_at: datetime
    zone: Zone
    rows: Sequence[MeterStatus] = ()  # how every meter stands now (`status`): the overview


OVERVIEW_RUNS_OUT = 5  # the meters that run out first, listed in the overview


@dataclass(frozen=True)
class MeterChart:
    monitor: str
    meter: str
    png: bytes
    alt: str
    legend: list[tuple[str, str]]  # (css class, text)


def report_html(monitors: list[Monitor], histories: dict[str, History], context: ReportContext) -> tuple[str, int]:
    """The report and how many charts it holds."""
    try:
        from quotawatch_view import charts
    except ImportError:
        raise ViewError("the report needs matplotlib: run `make setup`, or pip install 'quotawatch[report]'") from None
    zone = context.zone
    sections: list[str] = []
    count = 0
    for monitor in monitors:
        history = histories[monitor.id]
        figures = []
        for meter in history.meters():
            series, legend, alt = _series(monitor, history, meter, zone)
            chart = MeterChart(monitor.id, meter, charts.chart_png(series, zone.tz), alt, legend)
            figures.append(_figure(chart))
            count += 1
        sections.append(_section(monitor, history, figures, zone))
    meta = (
        f"{html.escape(context.where)}; readings since {zone.moment(context.since)}; "
        f"written {zone.moment(context.generated_at)}; {zone.heading()}"
    )
    page = _PAGE.format(meta=meta, overview=overview_html(context.rows, zone), sections="\n".join(sections))
    return page, count


def overview_html(rows: Sequence[MeterStatus], zone: Zone) -> str:
    """What matters first: what is raised now, which checks fail, what runs out first."""
    raised = [r for r in rows if r.meter is not None and r.level is not Level.OK]
    failing = list({r.monitor: r for r in rows if r.check.failed}.values())
    waiting = sorted({r.monitor for r in rows if r.check.waiting})
    ahead = sorted((r for r in rows if r.runs_out_this_period and r.runs_out_at), key=lambda r: r.attention[2])
    parts = ['<section class="overview" id="overview"><h2>Now</h2>']

    def listed(title: str, items: list[str], css: str = "") -> None:
        body = "".join(f"<li>{item}</li>" for item in items) or "<li>none</li>"
        parts.append(f'<h3>{title}</h3><ul class="{css}">{body}</ul>')

    listed(
        "Raised",
        [
            f'<span class="{r.level.label}">{r.level.label}</span> <a href="#monitor-{html.escape(r.monitor)}">'
            f"{html.escape(r.monitor)}</a> {html.escape(r.meter or '')}"
            + (" (burn)" if r.level_signal and r.level_signal.startswith("burn:") else "")
            + (f" ({fmt.percent(r.percent)})" if r.percent is not None and r.condition is None else "")
            + (f" since {zone.moment(r.since)}" if r.since else "")
            for r in raised
        ],
    )
    listed(
        "Checks failing",
        [
            f"{html.escape(r.monitor)}: {html.escape(r.check.error.kind.value if r.check.error else '')}"
            + (f", cannot monitor since {zone.moment(r.check.failing_since)}" if r.check.failing_since else "")
            for r in failing
        ],
    )
    if waiting:
        listed("Waiting for their key", [html.escape(m) for m in waiting])
    listed(
        "Runs out first",
        [
            f"{html.escape(r.monitor)} {html.escape(r.meter or '')}: "
            f"{'limit' if r.limit is not None else 'empty'} {zone.day(r.runs_out_at)}"
            for r in ahead[:OVERVIEW_RUNS_OUT]
            if r.runs_out_at
        ],
    )
    parts.append("</section>")
    return "\n".join(parts)


def _series(monitor: Monitor, history: History, name: str, zone: Zone) -> tuple[Series, list[tuple[str, str]], str]:
    from quotawatch_view.charts import Series

    good = [r for r in history.readings if r.error is None and r.meter(name) is not None]
    newest = good[-1]
    meter = newest.meter(name)
    assert meter is not None  # noqa: S101  # good readings are those with this meter
    unit = meter.unit
    times = [r.checked_at for r in history.readings]
    values = [shown_value(m) if (m := r.meter(name)) else None for r in history.readings]
    limits = [m.limit if (m := r.meter(name)) else None for r in history.readings]
    thresholds = monitor.thresholds_for(name)
    legend: list[tuple[str, str]] = [
        ("legend-used", "used" if meter.limit is not None or meter.used is not None else "balance")
    ]
    warning, critical = _bands(meter.limit, thresholds, max((v for v in values if v is not None), default=0.0))
    if meter.limit is not None:
        legend.append(("legend-limit", f"limit {fmt.quantity(meter.limit, unit)}"))
    else:
        legend.append(("legend-limit none", "no limit"))
    if warning or critical:
        legend.append(("legend-bands", _bands_text(meter.limit, thresholds, unit)))
    resets = _resets(good, name)
    if resets:
        legend.append(("legend-resets", f"{len(resets)} period reset{'s' if len(resets) > 1 else ''}"))
    trend = period_forecast(meter, newest, good[:-1])
    projection = _projection(trend, newest, name, history)
    forecast_text = _forecast_text(trend, newest, name, zone)
    legend.append(("legend-forecast", forecast_text))
    markers = []
    burn_alerts = []
    for sent in history.messages:
        if sent.signal.split(":", 1)[-1] != name or not sent.signal.startswith(("meter:", "forecast:", "burn:")):
            continue
        at = sent.decided_at
        value = next(
            (v for t, v in zip(reversed(times), reversed(values), strict=True) if t <= at and v is not None), None
        )
        if value is None:
            continue
        if sent.signal.startswith("burn:") and sent.message.kind == "alert":
            burn_alerts.append((at, value))
        else:
            markers.append((at, value, sent.message.severity))
    if markers:
        legend.append(("legend-messages", f"{len(markers)} message{'s' if len(markers) > 1 else ''} sent"))
    burns = _burn_windows(history, name, thresholds.burn.short)
    if burns:
        legend.append(("legend-burn", f"burning faster than usual {len(burns)} time{'s' if len(burns) > 1 else ''}"))
    failures = [r.checked_at for r in history.readings if r.error is not None]
    if failures:
        legend.append(("legend-failures", f"{len(failures)} check{'s' if len(failures) > 1 else ''} failed"))
    title = f"{monitor.id}: {name}"
    series = Series(
        title=title,
        unit=unit,
        times=times,
        values=values,
        limits=limits,
        warning=warning,
        critical=critical,
        resets=resets,
        forecast=projection,
        forecast_label=forecast_text,
        messages=markers,
        failures=failures,
        burns=burns,
        burn_alerts=burn_alerts,
    )
    alt = f"Chart of {monitor.id} {name}: " + "; ".join(text for _, text in legend)
    return series, legend, alt


def _burn_windows(history: History, name: str, short: float) -> list[tuple[datetime, datetime]]:
    """When the meter burned: from a short window before its burn alert was raised to its
    clear (or the newest reading, while it burns)."""
    windows: list[tuple[datetime, datetime]] = []
    start: datetime | None = None
    for sent in history.messages:
        if sent.signal != f"burn:{name}":
            continue
        if sent.message.kind == "recovery" and start is not None:
            windows.append((start, sent.decided_at))
            start = None
        elif sent.message.kind == "alert" and start is None:
            start = sent.decided_at - timedelta(seconds=short)
    if start is not None and history.readings:
        windows.append((start, max(start, history.readings[-1].checked_at)))
    return windows


def _bands(
    limit: float | None, thresholds: Thresholds, highest: float
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    if limit is not None and limit > 0:
        top = max(limit, highest) * 1.05
        return (limit * thresholds.warning / 100, limit * thresholds.critical / 100), (
            limit * thresholds.critical / 100,
            top,
        )
    if thresholds.has_floor:  # a balance: the bands lie under its floors
        critical = (0.0, thresholds.floor_critical) if thresholds.floor_critical is not None else None
        low = thresholds.floor_critical or 0.0
        warning = (low, thresholds.floor_warning) if thresholds.floor_warning is not None else None
        return warning, critical
    return None, None


def _bands_text(limit: float | None, thresholds: Thresholds, unit: str) -> str:
    if limit is not None:
        return f"warning from {thresholds.warning:g}%, critical from {thresholds.critical:g}%"
    parts = []
    if thresholds.floor_warning is not None:
        parts.append(f"warning under {fmt.quantity(thresholds.floor_warning, unit)}")
    if thresholds.floor_critical is not None:
        parts.append(f"critical under {fmt.quantity(thresholds.floor_critical, unit)}")
    return ", ".join(parts)


def _resets(good: list[Snapshot], name: str) -> list[datetime]:
    """Where a new period began: the provider's period moved, or the use fell by half."""
    resets = []
    for before, after in pairwise(good):
        moved = (
            before.period is not None
            and after.period is not None
            and after.period.start is not None
            and before.period.start != after.period.start
        )
        old, new = before.meter(name), after.meter(name)
        fell = bool(old and new and old.used and new.used is not None and new.used < old.used / 2)
        if moved or fell:
            start = after.period.start if moved and after.period and after.period.start else after.checked_at
            resets.append(max(start, before.checked_at))
    return resets


def _projection(
    trend: Forecast | None, newest: Snapshot, name: str, history: History
) -> tuple[datetime, float, datetime, float] | None:
    """The forecast line: from the newest reading to the run-out, or as far as the chart shows."""
    meter = newest.meter(name)
    if trend is None or trend.runs_out_at is None or meter is None:
        return None
    start, value = newest.checked_at, shown_value(meter)
    if value is None:
        return None
    shown = max(2 * (start - history.readings[0].checked_at), MIN_PROJECTION)
    end = min(trend.runs_out_at, start + shown)
    days = (end - start).total_seconds() / 86_400
    step = trend.per_day * days
    return start, value, end, value - step if meter.limit is None and meter.used is None else value + step


def _forecast_text(trend: Forecast | None, newest: Snapshot, name: str, zone: Zone) -> str:
    meter = newest.meter(name)
    if meter is not None and meter.limit is None and meter.remaining is None:
        return "forecast: none without a limit"  # use that nothing caps cannot run out
    if trend is None or meter is None:
        return "forecast: too few readings"
    if trend.runs_out_at is None:
        return "forecast: not running out"
    what = "reaches the limit" if meter.limit is not None else "runs out"
    end = newest.period.end if newest.period else None
    after = " (after the reset)" if meter.limit is not None and end is not None and trend.runs_out_at > end else ""
    return f"forecast: {what} {zone.day(trend.runs_out_at)}{after}"


def _figure(chart: MeterChart) -> str:
    data = base64.b64encode(chart.png).decode("ascii")
    legend = "".join(f'<li class="{css}">{html.escape(text)}</li>' for css, text in chart.legend)
    return (
        f'<figure class="chart" data-monitor="{html.escape(chart.monitor)}" data-meter="{html.escape(chart.meter)}">'
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(chart.alt)}">'
        f'<figcaption><strong>{html.escape(chart.meter)}</strong><ul class="legend">{legend}</ul></figcaption>'
        "</figure>"
    )


def _section(monitor: Monitor, history: History, figures: list[str], zone: Zone) -> str:
    failed = [r for r in history.readings if r.error is not None]
    lines = [f'<section class="monitor" id="monitor-{html.escape(monitor.id)}">']
    lines.append(f"<h2>{html.escape(monitor.id)} <small>{html.escape(monitor.provider)}</small></h2>")
    summary = f"{len(history.readings)} readings"
    if failed:
        summary += f", {len(failed)} failed (the last: {zone.moment(failed[-1].checked_at)})"
    lines.append(f"<p>{summary}</p>")
    lines += figures or ["<p>No reading with meters in this time.</p>"]
    if history.messages:
        lines.append('<table class="messages"><tr><th>decided</th><th>level</th><th>message</th><th>sent</th></tr>')
        for sent in history.messages:
            when = zone.moment(sent.sent_at) if sent.sent_at else "held" if sent.held_by else "not yet"
            lines.append(
                f'<tr class="{html.escape(sent.message.severity)}"><td>{zone.moment(sent.decided_at)}</td>'
                f"<td>{html.escape(sent.message.severity)}</td><td>{html.escape(sent.message.subject)}</td>"
                f"<td>{when}</td></tr>"
            )
        lines.append("</table>")
    lines.append("</section>")
    return "\n".join(lines)


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>QuotaWatch report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 860px; color: #222; }}
h1 {{ margin-bottom: 0.2rem; }} .meta {{ color: #666; margin-top: 0; }}
h2 small {{ color: #777; font-weight: normal; font-size: 0.7em; }}
figure.chart {{ margin: 0.8rem 0 1.4rem; }} figure.chart img {{ width: 100%; height: auto; border: 1px solid #ddd; }}
ul.legend {{ list-style: none; padding: 0; margin: 0.3rem 0; display: flex; flex-wrap: wrap; gap: 0.3rem 1rem; }}
ul.legend li {{ font-size: 0.85rem; }}
.legend-used::before {{ content: "\\2014 "; color: #1f5fbf; font-weight: bold; }}
.legend-limit::before {{ content: "\\2014 "; color: #c0392b; font-weight: bold; }}
.legend-limit.none::before {{ content: ""; }}
.legend-forecast::before {{ content: "- - "; color: #8e44ad; font-weight: bold; }}
.legend-bands::before {{ content: "\\25A0 "; color: #f2c14e; }}
.legend-messages::before {{ content: "\\25BC "; color: #b00020; }}
.legend-burn::before {{ content: "\\2605 "; color: #e67e22; }}
.legend-failures::before {{ content: "\\00D7 "; color: #555; font-weight: bold; }}
table.messages {{ border-collapse: collapse; font-size: 0.85rem; width: 100%; }}
table.messages td, table.messages th {{ text-align: left; padding: 0.2rem 0.5rem; border-bottom: 1px solid #eee; }}
section.overview {{ border: 1px solid #ddd; padding: 0 1rem 0.5rem; }} section.overview h3 {{ margin-bottom: 0.2rem; }}
span.critical {{ color: #b00020; font-weight: bold; }} span.warning {{ color: #c77700; font-weight: bold; }}
tr.critical td:nth-child(2) {{ color: #b00020; font-weight: bold; }} tr.warning td:nth-child(2) {{ color: #c77700; }}
</style>
</head>
<body>
<h1>QuotaWatch report</h1>
<p class="meta">{meta}</p>
{overview}
{sections}
</body>
</html>
"""
