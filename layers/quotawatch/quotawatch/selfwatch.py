"""QuotaWatch watching itself: a run that failed after its retry, and alarms on its own
health, become signals of the monitor "QuotaWatch", decided and delivered like any alert.

Each signal is raised once, and cleared once when its cause is over (a run that works, an
alarm back to OK); a failure repeated while the signal is up says nothing new. Changes are
conditional on the signal's version, as for every monitor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from quotawatch.core.alerts import SignalState
from quotawatch.core.channels import CHANNEL_SIGNAL
from quotawatch.core.record import QueuedMessage
from quotawatch.core.rules import Level
from quotawatch.core.self_messages import SELF_MONITOR, SelfNotice, render_self
from quotawatch.ports import Clock, Store

RUN_SIGNAL = "self:run"
_ALARM_SIGNAL = "self:alarm:"


@dataclass(frozen=True)
class RunFailure:
    """A check run that failed after Lambda's retries (its on-failure destination's event)."""

    function: str
    error_type: str
    error_message: str
    scheduled_time: str | None
    attempts: int


@dataclass(frozen=True)
class AlarmChange:
    """A CloudWatch alarm on QuotaWatch's health changed state."""

    name: str
    description: str
    state: str  # ALARM | OK | INSUFFICIENT_DATA
    reason: str
    at: datetime


def run_failed(failure: RunFailure, store: Store, clock: Clock) -> QueuedMessage | None:
    tick = f" for the check of {failure.scheduled_time}" if failure.scheduled_time else ""
    notice = SelfNotice(
        RUN_SIGNAL,
        Level.CRITICAL,
        f"a check run failed after {failure.attempts} attempts ({failure.error_type})",
        (
            f"The function {failure.function} failed{tick}: {failure.error_type}: {failure.error_message}",
            "Until a run works, usage is not checked and no alert about your APIs can be sent.",
        ),
        "read the error above and the function's log; fix monitors.yaml or the deployment if it names them. "
        "You are told once when runs work again.",
    )
    return _change(store, notice, clock.now())


def run_succeeded(store: Store, clock: Clock) -> QueuedMessage | None:
    """Clears the failed-run signal, if it is up (one read by key otherwise)."""
    notice = SelfNotice(RUN_SIGNAL, Level.OK, "check runs work again", ("The last check run finished.",))
    return _change(store, notice, clock.now())


def alarm_changed(change: AlarmChange, store: Store) -> QueuedMessage | None:
    if change.state not in ("ALARM", "OK"):
        return None  # INSUFFICIENT_DATA says nothing about health either way
    what = change.description.split(". ")[0].rstrip(".") or f"alarm {change.name}"
    raised = change.state == "ALARM"
    notice = SelfNotice(
        _ALARM_SIGNAL + change.name,
        Level.CRITICAL if raised else Level.OK,
        what if raised else f"over: {what[0].lower()}{what[1:]}",
        (f"Alarm {change.name} is {change.state}: {change.reason}", change.description),
        "see the alarm in the CloudWatch console; docs/self-watch.md says what each alarm means." if raised else "",
    )
    return _change(store, notice, change.at)


def _change(store: Store, notice: SelfNotice, now: datetime) -> QueuedMessage | None:
    """Move the signal to the notice's level, with its message, unless it is there already."""
    current = store.load([SELF_MONITOR], history=False)[SELF_MONITOR].states.get(notice.signal)
    previous = current.level if current else Level.OK
    if previous is notice.level:
        return None
    version = current.version if current else 0
    state = SignalState(notice.signal, notice.level, now, version + 1, notified_at=now)
    queued = QueuedMessage.for_decision(SELF_MONITOR, notice.signal, state.version, now, render_self(notice, now))
    return queued if store.commit(SELF_MONITOR, state, version, queued) else None


def channel_failing(
    channel: str, kind: str, error: str, failures: int, store: Store, clock: Clock
) -> QueuedMessage | None:
    """A channel beside the topic failed `failures` times in a row (quotawatch/channel_delivery.py):
    raised once, on the other channels and the topic (core/channels.py routes)."""
    notice = SelfNotice(
        CHANNEL_SIGNAL + channel,
        Level.CRITICAL,
        f"channel {channel} failing",
        (
            f"The {kind} channel {channel} refused or missed the last {failures} messages: {error}",
            "Its messages are kept and retried; every other channel still gets them.",
        ),
        f"check the {kind} channel's webhook or key in the API-keys secret (field of channel {channel} "
        "in monitors.yaml), and the notify function's log. You are told once when it works again.",
    )
    return _change(store, notice, clock.now())


def channel_works(channel: str, store: Store, clock: Clock) -> QueuedMessage | None:
    notice = SelfNotice(CHANNEL_SIGNAL + channel, Level.OK, f"channel {channel} works again", ())
    return _change(store, notice, clock.now())
