"""Messages: an email subject SNS accepts, a readable body, an SMS that fits one GSM-7 text."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core import formatting as fmt
from quotawatch.core.alerts import Transition
from quotawatch.core.messages import SMS_MAX, SUBJECT_MAX, render
from quotawatch.core.rules import DEFAULT_THRESHOLDS, Level, Signal
from quotawatch.core.snapshot import Condition, Meter, Period, Severity, Snapshot

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
PERIOD = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
PRINTABLE_ASCII = set(string.printable) - set("\t\n\r\x0b\x0c")

CALLS = Meter("calls", 842, 1000, 158, "calls")
METERS = (
    CALLS,
    Meter("output_bytes", 1073741824, 5368709120, 4294967296, "bytes"),
    Meter("compute_time", 384200, 600000, 215800, "ms"),
    Meter("storage", 52428800, 1073741824, 1021313024, "bytes"),
    Meter("credit", None, None, 4500, "credits"),
    Meter("failed_jobs", 42, None, None, "jobs"),
)
INACTIVE = Condition("subscription_inactive", Severity.CRITICAL, "the cloudlayer.io subscription is not active")


def snap(
    monitor: str = "cloudlayer-prod",
    meters: tuple[Meter, ...] = METERS,
    conditions: tuple[Condition, ...] = (),
    period: Period | None = None,
) -> Snapshot:
    return Snapshot(monitor, "cloudlayer", NOW, period=period, meters=meters, conditions=conditions)


def meter_rise(meter: Meter = CALLS, level: Level = Level.WARNING, previous: Level = Level.OK) -> Transition:
    return Transition(Signal(f"meter:{meter.name}", level, meter=meter, thresholds=DEFAULT_THRESHOLDS), previous, 0)


def condition_rise(condition: Condition = INACTIVE) -> Transition:
    signal = Signal(f"condition:{condition.name}", Level.CRITICAL, condition=condition)
    return Transition(signal, Level.OK, 0)


def assert_subject_ok(subject: str) -> None:
    assert 0 < len(subject) <= SUBJECT_MAX
    assert set(subject) <= PRINTABLE_ASCII, subject


def assert_sms_ok(sms: str) -> None:
    assert 0 < len(sms) <= SMS_MAX
    assert set(sms) <= GSM7_BASIC, sms


def test_warning_subject_names_level_monitor_meter_and_percent() -> None:
    message = render(meter_rise(), snap(), "cloudlayer.io")

    assert message.subject == "[WARNING] cloudlayer-prod: calls at 84% of limit"
    assert message.severity == "warning"
    assert message.kind == "alert"
    assert message.monitor == "cloudlayer-prod"
    assert message.provider == "cloudlayer"
    assert_subject_ok(message.subject)


def test_subject_gives_the_reset_date_when_the_period_is_known() -> None:
    message = render(meter_rise(level=Level.CRITICAL), snap(period=PERIOD), "cloudlayer.io")

    assert message.subject.startswith("[CRITICAL] cloudlayer-prod: calls at 84% of limit")
    assert message.subject.endswith(", resets Dec 1")
    assert "resets 2026-12-01" in message.sms
    assert "Billing period: Nov 1 to Dec 1." in message.email
    assert message.severity == "critical"


def test_just_under_the_limit_does_not_read_as_100_percent() -> None:
    meter = Meter("calls", 996, 1000, 4, "calls")
    message = render(meter_rise(meter, Level.CRITICAL), snap(meters=(meter,)), "cloudlayer.io")
    assert "99.6%" in message.subject
    assert "100%" not in message.subject


def test_sms_for_a_warning() -> None:
    message = render(meter_rise(), snap(), "cloudlayer.io")

    assert message.sms == "QuotaWatch WARNING: cloudlayer-prod calls at 84% of limit"
    assert_sms_ok(message.sms)


def test_email_body_lists_every_meter_and_what_to_do() -> None:
    body = render(meter_rise(), snap(conditions=(INACTIVE,)), "cloudlayer.io").email

    assert body.startswith("cloudlayer-prod (cloudlayer.io) is WARNING: calls at 84% of limit.")
    assert "calls: 842 of 1,000 calls used, 158 calls left. Warning at 80%, critical at 95%." in body
    for meter in METERS:
        assert f"  {meter.name} " in body, meter.name
    assert "1.0 GB of 5.0 GB" in body
    assert "384,200 of 600,000 ms" in body
    assert "4,500 credits remaining" in body
    assert "42 jobs (no limit)" in body
    assert "! critical: the cloudlayer.io subscription is not active" in body
    assert "All meters at 2026-11-24 01:00 UTC:" in body
    assert "What to do: watch the trend" in body
    assert body.endswith("-- QuotaWatch")


def test_email_body_is_never_json() -> None:
    for transition in (meter_rise(), condition_rise(), meter_rise(level=Level.OK, previous=Level.CRITICAL)):
        body = render(transition, snap(conditions=(INACTIVE,), period=PERIOD), "cloudlayer.io").email
        assert '{"' not in body
        assert not body.lstrip().startswith(("{", "["))


def test_critical_advice_is_urgent() -> None:
    meter = Meter("calls", 990, 1000, 10, "calls")
    body = render(meter_rise(meter, Level.CRITICAL), snap(meters=(meter,)), "cloudlayer.io").email
    assert "is CRITICAL" in body
    assert "requests will soon be refused" in body


def test_condition_alert_names_the_condition_and_gives_its_message() -> None:
    message = render(condition_rise(), snap(conditions=(INACTIVE,)), "cloudlayer.io")

    assert message.subject == "[CRITICAL] cloudlayer-prod: subscription inactive"
    assert message.sms == "QuotaWatch CRITICAL: cloudlayer-prod the cloudlayer.io subscription is not active"
    assert "is CRITICAL: subscription inactive.\n\nthe cloudlayer.io subscription is not active." in message.email
    assert "billing page" in message.email
    assert message.severity == "critical"


def test_recovery_says_back_to_normal_with_info_severity() -> None:
    meter = Meter("calls", 120, 1000, 880, "calls")
    transition = meter_rise(meter, Level.OK, previous=Level.CRITICAL)
    message = render(transition, snap(meters=(meter,), period=PERIOD), "cloudlayer.io")

    assert message.kind == "recovery"
    assert message.severity == "info"
    assert message.subject == "[OK] cloudlayer-prod: calls back to normal (12%)"  # no reset date on a recovery
    assert message.sms == "QuotaWatch OK: cloudlayer-prod calls back to normal (12%)"
    assert "back to normal" in message.email
    assert "It was critical; no action needed." in message.email
    assert "What to do" not in message.email
    assert_subject_ok(message.subject)
    assert_sms_ok(message.sms)


def test_recovery_of_a_vanished_condition() -> None:
    transition = Transition(Signal("condition:subscription_inactive", Level.OK), Level.CRITICAL, 2)
    message = render(transition, snap(), "cloudlayer.io")

    assert message.kind == "recovery"
    assert message.severity == "info"
    assert message.subject == "[OK] cloudlayer-prod: subscription inactive back to normal"


def test_long_monitor_id_is_cut_to_the_limits() -> None:
    monitor = "m" * 63
    condition = Condition("billing_error", Severity.WARNING, "x" * 400)
    message = render(condition_rise(condition), snap(monitor, conditions=(condition,), period=PERIOD), "p")

    assert len(message.subject) == SUBJECT_MAX
    assert message.subject.startswith(f"[CRITICAL] {monitor}: ")
    assert len(message.sms) == SMS_MAX
    assert message.sms.startswith(f"QuotaWatch CRITICAL: {monitor} ")


def test_unicode_is_folded_not_dropped_silently() -> None:
    condition = Condition("billing_error", Severity.WARNING, "Zahlung für Käse fehlgeschlagen — “Karte” abgelehnt ✓")
    message = render(condition_rise(condition), snap(conditions=(condition,)), "p")

    assert message.subject == "[CRITICAL] cloudlayer-prod: billing error"  # condition_rise raises to critical
    assert "Zahlung fur Kase fehlgeschlagen" in message.sms
    assert "Zahlung für Käse fehlgeschlagen" in message.email  # email is UTF-8: no folding needed
    assert_subject_ok(message.subject)
    assert_sms_ok(message.sms)


@pytest.mark.parametrize("text", ["line one\nline two", "tab\there", "bell\x07 and nul\x00 and del\x7f", "\r\n"])
def test_control_characters_never_reach_subject_or_sms(text: str) -> None:
    condition = Condition("billing_error", Severity.WARNING, f"card declined: {text}")
    message = render(condition_rise(condition), snap(f"m{text}"[:20], conditions=(condition,)), "p")

    assert_subject_ok(message.subject)
    assert_sms_ok(message.sms)


@settings(max_examples=300, deadline=None)
@given(
    monitor=st.text(min_size=1, max_size=120),
    condition_message=st.text(max_size=300),
    plan_percent=st.floats(min_value=0, max_value=500, allow_nan=False),
    level=st.sampled_from([Level.WARNING, Level.CRITICAL, Level.OK]),
    with_period=st.booleans(),
)
def test_subject_and_sms_are_always_within_limits(
    monitor: str, condition_message: str, plan_percent: float, level: Level, with_period: bool
) -> None:
    condition = Condition("billing_error", Severity.WARNING, condition_message)
    meter = Meter("calls", plan_percent * 10, 1000, None, "calls")
    snapshot = snap(monitor, meters=(meter,), conditions=(condition,), period=PERIOD if with_period else None)

    for transition in (
        meter_rise(meter, level, previous=Level.CRITICAL if level is Level.OK else Level.OK),
        condition_rise(condition),
    ):
        message = render(transition, snapshot, "cloudlayer.io")
        assert_subject_ok(message.subject)
        assert_sms_ok(message.sms)
        assert message.email.endswith("-- QuotaWatch")


# --- formatting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (842, "calls", "842 calls"),
        (384200, "ms", "384,200 ms"),
        (1.5, "credits", "1.5 credits"),
        (4.5, "USD", "$4.50"),
        (1073741824, "bytes", "1.0 GB"),
        (512, "bytes", "512 B"),
        (1536, "bytes", "1.5 KB"),
        (None, "calls", "?"),
        (3, "", "3"),
    ],
)
def test_quantity(value: float | None, unit: str, expected: str) -> None:
    assert fmt.quantity(value, unit) == expected


def test_fraction_and_percent() -> None:
    assert fmt.fraction(820, 1000, "calls") == "820 of 1,000 calls"
    assert fmt.fraction(1.2, 5, "USD") == "$1.20 of $5.00"
    assert fmt.fraction(None, 1000, "calls") == "? of 1,000 calls"
    assert fmt.percent(84.2) == "84%"
    assert fmt.percent(99.6) == "99.6%"
    assert fmt.percent(100) == "100%"
    assert fmt.percent(120.4) == "120%"
    assert fmt.day(datetime(2026, 12, 1, tzinfo=UTC)) == "Dec 1"
    assert fmt.timestamp(NOW) == "2026-11-24 01:00 UTC"
