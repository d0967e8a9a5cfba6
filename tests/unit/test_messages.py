"""Messages: an email subject SNS accepts, a readable body, an SMS that fits one GSM-7 text."""

from __future__ import annotations

import json
import math
import re
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core import formatting as fmt
from quotawatch.core.alerts import Decision, Notice, SignalState
from quotawatch.core.forecast import Forecast
from quotawatch.core.messages import SMS_MAX, SUBJECT_MAX, Message, render, render_test
from quotawatch.core.rules import CHECK_KEY, DEFAULT_THRESHOLDS, Level, Signal, Thresholds, evaluate
from quotawatch.core.snapshot import CheckError, Condition, ErrorKind, Meter, Period, Severity, Snapshot

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
SINCE = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
PERIOD = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
PRINTABLE_ASCII = set(string.printable) - set("\t\n\r\x0b\x0c")
OK, WARNING, CRITICAL = Level.OK, Level.WARNING, Level.CRITICAL

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
REJECTED = CheckError(ErrorKind.AUTH, "tornado-downloads: 127.0.0.1 rejected the API key (401: Unauthorized)")


def calls(used: float) -> Meter:
    return Meter("calls", used, 1000, 1000 - used, "calls")


def snap(
    monitor: str = "cloudlayer-prod",
    meters: tuple[Meter, ...] = METERS,
    conditions: tuple[Condition, ...] = (),
    period: Period | None = None,
    provider: str = "cloudlayer",
) -> Snapshot:
    return Snapshot(monitor, provider, NOW, period=period, meters=meters, conditions=conditions)


def failed_snap(monitor: str = "tornado-downloads", error: CheckError = REJECTED) -> Snapshot:
    return Snapshot(monitor, "tornado", NOW, error=error)


def decide(signal: Signal, notice: Notice, previous: Level = OK) -> Decision:
    """A decision as decide() makes it: a reminder keeps `since`, anything else starts now."""
    since = SINCE if notice is Notice.REMINDER else NOW
    return Decision(signal, previous, SignalState(signal.key, signal.level, since, 5, notified_at=NOW), 4, notice)


def meter(level: Level, m: Meter = CALLS, thresholds: Thresholds = DEFAULT_THRESHOLDS, **kw: object) -> Signal:
    return Signal(f"meter:{m.name}", level, meter=m, thresholds=thresholds, **kw)  # type: ignore[arg-type]


def raised(m: Meter = CALLS, level: Level = WARNING, previous: Level = OK) -> Decision:
    return decide(meter(level, m), Notice.RAISED, previous)


def condition(c: Condition = INACTIVE, level: Level | None = None) -> Signal:
    return Signal(f"condition:{c.name}", Level.of_severity(c.severity) if level is None else level, condition=c)


def check(level: Level, error: CheckError | None = REJECTED, failures: int = 1) -> Signal:
    return Signal(CHECK_KEY, level, error=error, failures=failures)


def assert_subject_ok(subject: str) -> None:
    assert 0 < len(subject) <= SUBJECT_MAX
    assert set(subject) <= PRINTABLE_ASCII, subject


def assert_sms_ok(sms: str) -> None:
    assert 0 < len(sms) <= SMS_MAX
    assert set(sms) <= GSM7_BASIC, sms


def assert_not_json(body: str) -> None:
    assert '{"' not in body
    assert not body.lstrip().startswith(("{", "["))
    with pytest.raises(ValueError, match=r"Expecting value|Extra data"):
        json.loads(body)


# --- meters: raised, reminded, eased, cleared, reset ---------------------------------------------


def test_warning_subject_names_level_monitor_meter_and_percent() -> None:
    message = render(raised(calls(820)), snap(meters=(calls(820),)), "cloudlayer.io")

    assert message.subject == "[WARNING] cloudlayer-prod: calls at 82% of limit"
    assert message.sms == "QuotaWatch WARNING: cloudlayer-prod calls at 82% of limit"
    assert message.severity == "warning"
    assert message.kind == "alert"
    assert message.monitor == "cloudlayer-prod"
    assert message.provider == "cloudlayer"
    assert message.email.startswith("cloudlayer-prod (cloudlayer.io) is WARNING: calls at 82% of limit.")


def test_subject_gives_the_reset_date_when_the_period_is_known() -> None:
    message = render(raised(level=CRITICAL), snap(period=PERIOD), "cloudlayer.io")

    assert message.subject == "[CRITICAL] cloudlayer-prod: calls at 84% of limit, resets Dec 1"
    assert message.sms == "QuotaWatch CRITICAL: cloudlayer-prod calls at 84% of limit, resets 2026-12-01"
    assert "Billing period: Nov 1 to Dec 1." in message.email
    assert message.severity == "critical"


def test_just_under_the_limit_does_not_read_as_100_percent() -> None:
    m = calls(996)
    message = render(raised(m, CRITICAL), snap(meters=(m,)), "cloudlayer.io")
    assert "99.6%" in message.subject
    assert "100%" not in message.subject


def test_a_reminder_says_so_and_since_when() -> None:
    m = calls(960)
    message = render(decide(meter(CRITICAL, m), Notice.REMINDER, CRITICAL), snap(meters=(m,)), "cloudlayer.io")

    assert message.subject == "[CRITICAL] Reminder: cloudlayer-prod: calls at 96% of limit"
    assert message.sms == "QuotaWatch CRITICAL: Reminder: cloudlayer-prod calls at 96% of limit"
    assert message.kind == "reminder"
    assert message.severity == "critical"
    assert message.email.startswith(
        "cloudlayer-prod (cloudlayer.io) is still CRITICAL, since 2026-11-23 01:00 UTC: calls at 96% of limit."
    )
    assert "What to do: requests will soon be refused" in message.email


def test_a_reminder_with_a_period_keeps_the_reset_date() -> None:
    message = render(decide(meter(WARNING), Notice.REMINDER, WARNING), snap(period=PERIOD), "cloudlayer.io")
    assert message.subject == "[WARNING] Reminder: cloudlayer-prod: calls at 84% of limit, resets Dec 1"


def test_an_eased_alert_says_down_to_and_what_it_was() -> None:
    m = calls(880)
    message = render(
        decide(meter(WARNING, m), Notice.EASED, CRITICAL), snap(meters=(m,), period=PERIOD), "cloudlayer.io"
    )

    assert message.subject == "[WARNING] cloudlayer-prod: calls down to 88% (was critical)"
    assert message.sms == "QuotaWatch WARNING: cloudlayer-prod calls down to 88% (was critical)"
    assert message.kind == "alert"
    assert message.severity == "warning"
    assert message.email.startswith("cloudlayer-prod (cloudlayer.io) is WARNING: calls down to 88% (was critical).")
    assert "What to do: watch the trend" in message.email


def test_a_recovery_says_back_to_normal_with_info_severity() -> None:
    m = calls(120)
    message = render(decide(meter(OK, m), Notice.CLEARED, CRITICAL), snap(meters=(m,), period=PERIOD), "cloudlayer.io")

    assert message.kind == "recovery"
    assert message.severity == "info"
    assert message.subject == "[OK] cloudlayer-prod: calls back to normal (12%)"  # no reset date on a recovery
    assert message.sms == "QuotaWatch OK: cloudlayer-prod calls back to normal (12%)"
    assert message.email.startswith("cloudlayer-prod (cloudlayer.io): calls back to normal (12%). It was critical;")
    assert "no action needed" in message.email
    assert "What to do" not in message.email


def test_a_reset_names_the_new_billing_period() -> None:
    m = calls(40)
    signal = meter(OK, m, reset=True)
    message = render(decide(signal, Notice.RESET, CRITICAL), snap(meters=(m,), period=PERIOD), "cloudlayer.io")

    assert message.subject == "[OK] cloudlayer-prod: calls reset with the new billing period (4%)"
    assert message.sms == "QuotaWatch OK: cloudlayer-prod calls reset with the new billing period (4%)"
    assert message.kind == "recovery"
    assert message.severity == "info"
    assert "It was critical; no action needed." in message.email
    assert "What to do" not in message.email


def test_a_meter_gone_from_the_reading_clears_by_name() -> None:
    message = render(decide(Signal("meter:calls", OK), Notice.CLEARED, WARNING), snap(meters=()), "cloudlayer.io")
    assert message.subject == "[OK] cloudlayer-prod: calls back to normal"
    assert message.kind == "recovery"


def test_a_balance_under_its_floor_says_how_much_is_left() -> None:
    balance = Meter("credit", None, None, 4.5, "USD")
    floor = Thresholds(floor_warning=10, floor_critical=2)
    message = render(
        decide(meter(WARNING, balance, floor), Notice.RAISED), snap("imagerouter", (balance,)), "ImageRouter"
    )

    assert message.subject == "[WARNING] imagerouter: credit down to $4.50 left"
    assert "credit: $4.50 left. Warning below $10.00 left; critical below $2.00 left." in message.email
    assert "What to do: add credit now" in message.email


def test_a_limit_meter_under_a_floor_also_says_what_is_left() -> None:
    m = Meter("credit", 95.5, 100, 4.5, "USD")  # 95.5% of deposits: critical by percent too
    floor = Thresholds(floor_warning=10)
    message = render(decide(meter(CRITICAL, m, floor), Notice.RAISED), snap("imagerouter", (m,)), "ImageRouter")
    assert message.subject == "[CRITICAL] imagerouter: credit down to $4.50 left"
    assert "$95.50 of $100.00 used, $4.50 left" in message.email


# --- email bodies --------------------------------------------------------------------------------


def test_email_body_lists_every_meter_the_trend_and_what_to_do() -> None:
    trend = Forecast("calls", 50, datetime(2026, 11, 27, 4, 0, tzinfo=UTC), "calls")
    signal = meter(WARNING, forecast=trend)
    body = render(
        decide(signal, Notice.RAISED), snap(conditions=(INACTIVE,), period=PERIOD), "cloudlayer.io", {"calls": trend}
    ).email

    assert body.startswith("cloudlayer-prod (cloudlayer.io) is WARNING: calls at 84% of limit.")
    assert "calls: 842 of 1,000 calls used, 158 calls left. Warning at 80%, critical at 95%." in body
    assert "At the current rate (50 calls a day) it reaches the limit around 2026-11-27 04:00 UTC." in body
    for m in METERS:
        assert f"  {m.name} " in body, m.name
    assert "842 of 1,000 calls (84%)     +50 calls/day, limit ~Nov 27" in body
    assert "1.0 GB of 5.0 GB" in body
    assert "384,200 of 600,000 ms" in body
    assert "4,500 credits remaining" in body
    assert "42 jobs (no limit)" in body
    assert "! critical: the cloudlayer.io subscription is not active" in body
    assert "All meters at 2026-11-24 01:00 UTC:" in body
    assert "Billing period: Nov 1 to Dec 1." in body
    assert "What to do: watch the trend" in body
    assert body.endswith("-- QuotaWatch")


def test_a_rate_that_never_runs_out_says_so() -> None:
    trend = Forecast("calls", 0.5, None, "calls")
    body = render(decide(meter(WARNING, forecast=trend), Notice.RAISED), snap(), "cloudlayer.io").email
    assert "At the current rate (0.5 calls a day) it does not run out within ten years." in body


def test_critical_advice_is_urgent() -> None:
    m = calls(990)
    body = render(raised(m, CRITICAL), snap(meters=(m,)), "cloudlayer.io").email
    assert "is CRITICAL" in body
    assert "requests will soon be refused" in body


# --- forecasts ----------------------------------------------------------------------------------


def test_a_balance_forecast_says_when_it_runs_out() -> None:
    balance = Meter("credit", None, None, 40, "credits")
    trend = Forecast("credit", 20, datetime(2026, 11, 26, 1, 0, tzinfo=UTC), "credits")
    signal = Signal("forecast:credit", WARNING, meter=balance, forecast=trend)
    message = render(decide(signal, Notice.RAISED), snap(meters=(balance,), period=PERIOD), "cloudlayer.io")

    assert message.subject == "[WARNING] cloudlayer-prod: credit runs out around Nov 26 at the current rate"
    assert message.sms == "QuotaWatch WARNING: cloudlayer-prod credit runs out around Nov 26 at the current rate"
    assert message.kind == "alert"
    assert "At the current rate (20 credits a day) it runs out around 2026-11-26 01:00 UTC." in message.email
    assert "What to do: add credit before it runs out." in message.email


def test_a_limit_forecast_says_when_the_limit_is_reached() -> None:
    trend = Forecast("calls", 40, datetime(2026, 11, 28, 0, 0, tzinfo=UTC), "calls")
    signal = Signal("forecast:calls", WARNING, meter=CALLS, thresholds=DEFAULT_THRESHOLDS, forecast=trend)
    message = render(decide(signal, Notice.RAISED), snap(period=PERIOD), "cloudlayer.io")

    assert message.subject == "[WARNING] cloudlayer-prod: calls reaches its limit around Nov 28 at the current rate"
    assert "What to do: upgrade the plan or slow down" in message.email


def test_a_forecast_that_no_longer_applies_clears() -> None:
    trend = Forecast("calls", 0, None, "calls")
    for signal in (Signal("forecast:calls", OK, meter=CALLS, forecast=trend), Signal("forecast:calls", OK)):
        message = render(decide(signal, Notice.CLEARED, WARNING), snap(), "cloudlayer.io")
        assert message.subject == "[OK] cloudlayer-prod: calls no longer on track to run out"
        assert message.kind == "recovery"
        assert message.severity == "info"


# --- conditions -----------------------------------------------------------------------------------


def test_condition_alert_names_the_condition_and_gives_its_message() -> None:
    message = render(decide(condition(), Notice.RAISED), snap(conditions=(INACTIVE,)), "cloudlayer.io")

    assert message.subject == "[CRITICAL] cloudlayer-prod: subscription inactive"
    assert message.sms == "QuotaWatch CRITICAL: cloudlayer-prod the cloudlayer.io subscription is not active"
    assert "is CRITICAL: subscription inactive.\n\nthe cloudlayer.io subscription is not active." in message.email
    assert "billing page" in message.email
    assert message.severity == "critical"


def test_a_condition_with_a_detail_names_both() -> None:
    expiring = Condition("key_expiring:Production Key", Severity.WARNING, "the key Production Key expires in 5 days")
    message = render(decide(condition(expiring), Notice.RAISED), snap("imagerouter", ()), "ImageRouter")
    assert message.subject == "[WARNING] imagerouter: key expiring: Production Key"


def test_a_vanished_condition_is_no_longer_reported() -> None:
    signal = Signal("condition:subscription_inactive", OK)
    message = render(decide(signal, Notice.CLEARED, CRITICAL), snap(), "cloudlayer.io")

    assert message.kind == "recovery"
    assert message.severity == "info"
    assert message.subject == "[OK] cloudlayer-prod: subscription inactive: no longer reported"
    assert message.sms == "QuotaWatch OK: cloudlayer-prod subscription inactive: no longer reported"


def test_a_condition_reminder() -> None:
    message = render(decide(condition(), Notice.REMINDER, CRITICAL), snap(conditions=(INACTIVE,)), "cloudlayer.io")
    assert message.subject == "[CRITICAL] Reminder: cloudlayer-prod: subscription inactive"
    assert message.kind == "reminder"


# --- the check signal -----------------------------------------------------------------------------


def test_a_rejected_key_cannot_be_monitored() -> None:
    message = render(decide(check(CRITICAL), Notice.RAISED), failed_snap(), "Tornado API")

    assert message.subject == "[CRITICAL] Cannot monitor tornado-downloads: the key was rejected"
    assert message.sms == "QuotaWatch CRITICAL: cannot monitor tornado-downloads: the key was rejected"
    assert message.kind == "alert"
    assert message.severity == "critical"
    assert message.provider == "tornado"
    body = message.email
    assert body.startswith("QuotaWatch cannot check tornado-downloads (Tornado API): the key was rejected.")
    assert f"Last error: {REJECTED.message}" in body
    assert "nothing is read as zero or as a breach" in body
    assert "What to do: put a valid key where the error says" in body
    assert "All meters" not in body  # a failed check has none
    assert body.endswith("-- QuotaWatch")


@pytest.mark.parametrize(
    ("kind", "trouble", "advice"),
    [
        (ErrorKind.UNAVAILABLE, "the provider is not answering", "nothing, unless it lasts"),
        (ErrorKind.RATE_LIMITED, "the provider keeps refusing with 429 (rate limited)", "check less often"),
        (ErrorKind.BAD_RESPONSE, "the provider's answer cannot be read", "the provider changed its answer"),
        (ErrorKind.CONFIG, "its configuration needs fixing", "fix what the error names"),
    ],
)
def test_repeated_failures_say_how_many(kind: ErrorKind, trouble: str, advice: str) -> None:
    error = CheckError(kind, "tornado-downloads: something went wrong")
    message = render(decide(check(WARNING, error, 3), Notice.RAISED), failed_snap(error=error), "Tornado API")

    # The count stays out of the subject (it would be cut off) and goes in the body.
    assert message.subject == f"[WARNING] Cannot monitor tornado-downloads: {trouble}"
    assert message.sms == f"QuotaWatch WARNING: cannot monitor tornado-downloads: {trouble}"
    assert f"cannot check tornado-downloads (Tornado API): {trouble}." in message.email
    assert "The last 3 checks in a row failed." in message.email
    assert message.severity == "warning"
    assert f"What to do: {advice}" in message.email
    assert_subject_ok(message.subject)
    assert_sms_ok(message.sms)


def test_a_check_reminder() -> None:
    message = render(decide(check(CRITICAL), Notice.REMINDER, CRITICAL), failed_snap(), "Tornado API")
    assert message.subject == "[CRITICAL] Reminder: Cannot monitor tornado-downloads: the key was rejected"
    assert message.sms == "QuotaWatch CRITICAL: Reminder: cannot monitor tornado-downloads: the key was rejected"
    assert message.kind == "reminder"


def test_checks_that_work_again() -> None:
    storage = Meter("storage", 414.19, 1000, 585.81, "GB")
    working = snap("tornado-downloads", (storage,), provider="tornado")
    message = render(decide(Signal(CHECK_KEY, OK), Notice.CLEARED, CRITICAL), working, "Tornado API")

    assert message.subject == "[OK] tornado-downloads: checks work again"
    assert message.sms == "QuotaWatch OK: tornado-downloads checks work again"
    assert message.kind == "recovery"
    assert message.severity == "info"
    assert message.email.startswith(
        "QuotaWatch can check tornado-downloads (Tornado API) again: checks work again. Alerts about its usage resume."
    )
    assert "414.19 of 1,000 GB (41%)" in message.email


# --- every kind, every family: within limits and never JSON -----------------------------------------


def every_decision(m: Meter = CALLS, c: Condition = INACTIVE) -> list[Decision]:
    trend = Forecast(m.name, 10, NOW + timedelta(days=2), m.unit)
    gone_error = CheckError(ErrorKind.UNAVAILABLE, "down")
    decisions = []
    for notice, level, previous in [
        (Notice.RAISED, WARNING, OK),
        (Notice.RAISED, CRITICAL, WARNING),
        (Notice.REMINDER, CRITICAL, CRITICAL),
        (Notice.EASED, WARNING, CRITICAL),
        (Notice.CLEARED, OK, WARNING),
        (Notice.RESET, OK, CRITICAL),
    ]:
        decisions += [
            decide(meter(level, m, forecast=trend, reset=notice is Notice.RESET), notice, previous),
            decide(Signal(f"forecast:{m.name}", level, meter=m, forecast=trend), notice, previous),
            decide(condition(c, level), notice, previous),
            decide(check(level, gone_error if level is WARNING else REJECTED, 3), notice, previous),
            decide(Signal(f"meter:{m.name}", level), notice, previous),  # a vanished meter
        ]
    return decisions


def test_every_kind_of_message_is_readable_text_within_limits() -> None:
    for snapshot in (snap(conditions=(INACTIVE,), period=PERIOD), snap(), failed_snap()):
        for decision in every_decision():
            message = render(decision, snapshot, "cloudlayer.io")
            assert_subject_ok(message.subject)
            assert_sms_ok(message.sms)
            assert_not_json(message.email)
            assert message.email.endswith("-- QuotaWatch")
            assert message.severity == ("info" if decision.current is OK else decision.current.label)
            assert message.kind == {
                Notice.REMINDER: "reminder",
                Notice.CLEARED: "recovery",
                Notice.RESET: "recovery",
            }.get(decision.notice or Notice.RAISED, "alert")
            assert message.subject.startswith(f"[{'OK' if decision.current is OK else decision.current.name}] ")


def test_long_monitor_id_is_cut_to_the_limits() -> None:
    monitor = "m" * 63
    long = Condition("billing_error_" + "y" * 40, Severity.CRITICAL, "x" * 400)
    message = render(decide(condition(long), Notice.RAISED), snap(monitor, conditions=(long,), period=PERIOD), "p")

    assert len(message.subject) == SUBJECT_MAX
    assert message.subject.startswith(f"[CRITICAL] {monitor}: ")
    assert len(message.sms) == SMS_MAX
    assert message.sms.startswith(f"QuotaWatch CRITICAL: {monitor} ")


def test_unicode_is_folded_not_dropped_silently() -> None:
    c = Condition("billing_error", Severity.WARNING, "Zahlung für Käse fehlgeschlagen — “Karte” abgelehnt ✓")
    message = render(decide(condition(c), Notice.RAISED), snap(conditions=(c,)), "p")

    assert message.subject == "[WARNING] cloudlayer-prod: billing error"
    assert "Zahlung fur Kase fehlgeschlagen" in message.sms
    assert "Zahlung für Käse fehlgeschlagen" in message.email  # email is UTF-8: no folding needed
    assert_subject_ok(message.subject)
    assert_sms_ok(message.sms)


@pytest.mark.parametrize("text", ["line one\nline two", "tab\there", "bell\x07 and nul\x00 and del\x7f", "\r\n"])
def test_control_characters_never_reach_subject_or_sms(text: str) -> None:
    c = Condition("billing_error", Severity.WARNING, f"card declined: {text}")
    message = render(decide(condition(c), Notice.RAISED), snap(f"m{text}"[:20], conditions=(c,)), "p")

    assert_subject_ok(message.subject)
    assert_sms_ok(message.sms)


def test_characters_outside_gsm7_become_question_marks_in_the_sms() -> None:
    c = Condition("billing_error", Severity.WARNING, "plan [pro] {x} a|b ~c^ `d` \\e")
    sms = render(decide(condition(c), Notice.RAISED), snap(conditions=(c,)), "p").sms
    assert sms.endswith("plan ?pro? ?x? a?b ?c? ?d? ?e")  # extension-table characters count double
    assert_sms_ok(sms)


@settings(max_examples=150, deadline=None)
@given(
    monitor=st.text(min_size=1, max_size=120),
    meter_name=st.text(min_size=1, max_size=80),
    condition_name=st.text(min_size=1, max_size=80),
    condition_message=st.text(max_size=300),
    used=st.floats(min_value=0, max_value=1e12, allow_nan=False),
    limit=st.one_of(st.none(), st.floats(min_value=0, max_value=1e12, allow_nan=False)),
    unit=st.sampled_from(["calls", "bytes", "USD", "GB", "", "crédits"]),
    with_period=st.booleans(),
)
def test_subject_and_sms_are_always_within_limits(
    monitor: str,
    meter_name: str,
    condition_name: str,
    condition_message: str,
    used: float,
    limit: float | None,
    unit: str,
    with_period: bool,
) -> None:
    m = Meter(meter_name, used, limit, None if limit is None else limit - used, unit)
    c = Condition(condition_name, Severity.CRITICAL, condition_message)
    snapshot = snap(monitor, meters=(m,), conditions=(c,), period=PERIOD if with_period else None)

    for decision in every_decision(m, c):
        message = render(decision, snapshot, "cloudlayer.io")
        assert_subject_ok(message.subject)
        assert_sms_ok(message.sms)
        assert message.email.endswith("-- QuotaWatch")
        assert message.monitor == monitor


# --- the test alert, and messages as stored in an outbox ---------------------------------------------


def test_the_test_alert_is_marked_and_reaches_every_subscription() -> None:
    message = render_test(NOW, 4)

    assert message.subject == "[TEST] QuotaWatch test alert: your subscriptions work"
    assert message.kind == "test"
    assert message.severity == "critical"  # passes the SMS subscription's filter too
    assert "Nothing is wrong; no action is needed." in message.email
    assert "sent at 2026-11-24 01:00 UTC" in message.email
    assert "QuotaWatch watches 4 monitors." in message.email
    assert "1 monitor." in render_test(NOW, 1).email
    assert_subject_ok(message.subject)
    assert_sms_ok(message.sms)
    assert_not_json(message.email)


def test_a_message_survives_the_outbox_round_trip() -> None:
    message = render(raised(), snap(period=PERIOD), "cloudlayer.io")
    assert Message.from_dict(json.loads(json.dumps(message.to_dict()))) == message
    assert set(message.to_dict()) == {"subject", "email", "sms", "severity", "monitor", "provider", "kind"}


# --- formatting ---------------------------------------------------------------------------------


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


def test_numbers_are_never_wider_than_a_person_reads() -> None:
    assert fmt.number(999_999_999) == "999,999,999"
    assert fmt.number(4.2e9) == "4.2 billion"
    assert fmt.number(999.96e9) == "1 trillion"
    assert fmt.number(12e12) == "12 trillion"
    assert fmt.number(1e308) == "1.0e+308"
    assert fmt.number(-2.5e18) == "-2.5e+18"
    assert fmt.quantity(3e9, "USD") == "$3 billion"
    assert fmt.quantity(-4.5, "USD") == "-$4.50"
    assert fmt.quantity(1e308, "bytes") == "1.0e+308 B"
    assert fmt.quantity(2**60, "bytes") == "1.0 EB"
    assert fmt.quantity(10**400, "calls") == "?"  # past float range: no figure to give


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1000, ">999%"), (1e308, ">999%"), (math.inf, ">999%"), (-0.4, "?"), (-50, "?"), (math.nan, "?"), (0.0, "0%")],
)
def test_percentages_are_capped_and_never_negative(value: float, expected: str) -> None:
    assert fmt.percent(value) == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("unit", ["calls", "bytes", "USD", ""])
def test_nan_and_infinity_read_as_unknown(value: float, unit: str) -> None:
    assert fmt.quantity(value, unit) == "?"
    assert fmt.number(value) == "?"


def test_a_negative_use_never_reads_as_a_negative_percent() -> None:
    """It once read 'reset with the new billing period (-0%)'."""
    m = Meter("calls", -0.4, 1000, 1000.4, "calls")
    message = render(decide(meter(OK, m, reset=True), Notice.RESET, WARNING), snap(meters=(m,)), "p")
    assert "-0%" not in message.subject + message.sms + message.email
    assert message.subject == "[OK] cloudlayer-prod: calls reset with the new billing period (?)"


def test_a_huge_figure_reads_as_a_capped_percentage() -> None:
    """It once made a subject of a 300-digit percentage."""
    m = Meter("calls", 1e308, 1000, 0, "calls")
    message = render(raised(m, CRITICAL), snap(meters=(m,), period=PERIOD), "cloudlayer.io")
    assert message.subject == "[CRITICAL] cloudlayer-prod: calls at >999% of limit, resets Dec 1"
    assert "calls: 1.0e+308 of 1,000 calls used, 0 calls left." in message.email


def test_a_limit_of_zero_says_no_allowance_not_a_percent() -> None:
    used = Meter("calls", 5, 0, 0, "calls")
    message = render(raised(used, CRITICAL), snap(meters=(used,), period=PERIOD), "p")
    assert message.subject == "[CRITICAL] cloudlayer-prod: calls used with no allowance (5 of 0 calls), resets Dec 1"
    unused = Meter("calls", 0, 0, 0, "calls")
    reminder = render(decide(meter(WARNING, unused), Notice.REMINDER, WARNING), snap(meters=(unused,)), "p")
    assert reminder.subject == "[WARNING] Reminder: cloudlayer-prod: calls at 0 of 0 calls"


NOT_A_NUMBER = re.compile(r"(?i)\b(nan|inf|infinity)\b")
NEGATIVE_PERCENT = re.compile(r"-\d[\d,.]*%")
# Names and units from letters that cannot spell "nan" or "inf", so any such word is a figure.
SAFE_TEXT = st.text(alphabet="abcdeghjklmopqrstuvwxyz_ :-0123456789", min_size=1, max_size=40)
extreme_figures = st.none() | st.floats() | st.sampled_from([1e308, -1e308, 5e-324, -0.4, 0, 1e15, 9.999e14, -1])


@settings(max_examples=200, deadline=None)
@given(
    figures=st.lists(st.tuples(extreme_figures, extreme_figures, extreme_figures), min_size=1, max_size=4),
    unit=st.sampled_from(["calls", "bytes", "USD", "GB", "", "credits"]),
    name=SAFE_TEXT,
    per_day=st.floats(),
    with_period=st.booleans(),
)
def test_any_figures_render_readable_messages(
    figures: list[tuple[float | None, float | None, float | None]],
    unit: str,
    name: str,
    per_day: float,
    with_period: bool,
) -> None:
    meters = tuple(Meter(f"{name}{i}", u, lim, r, unit) for i, (u, lim, r) in enumerate(figures))
    snapshot = snap(meters=meters, period=PERIOD if with_period else None)
    trends = {m.name: Forecast(m.name, per_day, NOW + timedelta(days=3), unit) for m in meters}
    for m in meters:
        for decision in every_decision(m, Condition("billing_error", Severity.WARNING, "declined")):
            message = render(decision, snapshot, "cloudlayer.io", trends)
            assert_subject_ok(message.subject)
            assert_sms_ok(message.sms)
            for text in (message.subject, message.sms, message.email):
                assert not NOT_A_NUMBER.search(text), text
                assert not NEGATIVE_PERCENT.search(text), text
            assert max(len(line) for line in message.email.splitlines()) < 400


def test_a_check_error_over_impossible_figures_does_not_list_them() -> None:
    m = Meter("calls", 1e308, 1000, 0, "calls")
    error = CheckError(ErrorKind.BAD_RESPONSE, "cloudlayer-prod: the answer has figures that cannot be true")
    message = render(decide(check(WARNING, error, 3), Notice.RAISED), snap(meters=(m,)), "cloudlayer.io")
    assert "All meters" not in message.email
    assert "1.0e+308" not in message.email


# --- budgets: a spend meter against the monitor's own limit (meters.<name>.limit) ---------------


def _spend(used: float, limit: float | None = 200) -> Meter:
    return Meter("cost_this_month", used, limit, None if limit is None else limit - used, "USD")


def _budget_messages(spent: tuple[float, ...], thresholds: Thresholds) -> dict[str, Message]:
    """Readings a day apart through the real rules: the messages of every raised signal."""
    days = len(spent) - 1
    history = [
        Snapshot("openai-org", "openai", NOW - timedelta(days=days - i), period=PERIOD, meters=(_spend(used),))
        for i, used in enumerate(spent)
    ]
    evaluation = evaluate(history[-1], history[:-1], lambda _name: thresholds)
    return {
        s.key: render(decide(s, Notice.RAISED), history[-1], "OpenAI", evaluation.trends)
        for s in evaluation.signals
        if s.level is not OK
    }


BUDGET = Thresholds(budget=200)


@pytest.mark.parametrize(
    ("spent", "key", "subject", "sms", "email"),
    [
        (
            (60, 90, 120),  # 60 %, $30 a day: $200 in 2.7 days, before the period ends
            "forecast:cost_this_month",
            "[WARNING] openai-org: cost_this_month reaches its $200.00 budget around Nov 26 at this pace",
            "QuotaWatch WARNING: openai-org cost_this_month reaches its $200.00 budget around Nov 26 at this pace;"
            " slow down or raise the budget",
            [
                "At the current rate ($30.00 a day) it reaches the budget around 2026-11-26 17:00 UTC.",
                "+$30.00/day, budget ~Nov 26",
                "What to do: slow down or raise the budget (meters.cost_this_month.limit of the monitor).",
            ],
        ),
        (
            (150, 160, 170),  # 85 % of the budget: the percent threshold, against the budget
            "meter:cost_this_month",
            "[WARNING] openai-org: cost_this_month at 85% of its $200.00 budget, resets Dec 1",
            "QuotaWatch WARNING: openai-org cost_this_month at 85% of its $200.00 budget, resets 2026-12-01",
            ["$170.00 of $200.00 used", "the provider does not stop requests at it"],
        ),
        (
            (192, 194, 196),  # 98 %: critical
            "meter:cost_this_month",
            "[CRITICAL] openai-org: cost_this_month at 98% of its $200.00 budget, resets Dec 1",
            "QuotaWatch CRITICAL: openai-org cost_this_month at 98% of its $200.00 budget, resets 2026-12-01",
            ["What to do: slow down or raise the budget"],
        ),
    ],
)
def test_a_budget_alert_speaks_of_the_budget(
    spent: tuple[float, ...], key: str, subject: str, sms: str, email: list[str]
) -> None:
    message = _budget_messages(spent, BUDGET)[key]
    assert (message.subject, message.sms) == (subject, sms)
    assert len(message.sms) <= SMS_MAX
    for line in email:
        assert line in message.email
    assert "credit" not in message.email
    assert "runs out" not in message.email + message.sms


@pytest.mark.parametrize("thresholds", [DEFAULT_THRESHOLDS, Thresholds(budget=150)], ids=["no budget", "other"])
def test_a_usd_limit_that_is_not_the_monitors_budget_keeps_its_words(thresholds: Thresholds) -> None:
    """The provider's own limit (a budget set elsewhere is ignored by fetching.py): unchanged texts."""
    message = _budget_messages((60, 90, 120), thresholds)["forecast:cost_this_month"]
    assert message.subject == "[WARNING] openai-org: cost_this_month runs out around Nov 26 at the current rate"
    assert "budget" not in message.email + message.sms


def test_a_budget_forecast_that_no_longer_applies_clears_in_its_words() -> None:
    signal = Signal("forecast:cost_this_month", OK, meter=_spend(120), thresholds=BUDGET)
    message = render(decide(signal, Notice.CLEARED, WARNING), snap("openai-org", (_spend(120),)), "OpenAI")
    assert message.subject == "[OK] openai-org: cost_this_month no longer on track to reach its budget"
