"""The daily digest's message (core/digest.py): its first line tells all is well or what needs
attention; it is never critical, fits an SMS, and is keyed by its day in its own zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from quotawatch.config import Monitor
from quotawatch.core.alerts import SignalState
from quotawatch.core.digest import LINE_MAX, DigestInput, FailedChecks, queued_digest, render_digest, silence_lines
from quotawatch.core.messages import SMS_MAX, SUBJECT_MAX
from quotawatch.core.record import StoredMonitor
from quotawatch.core.rules import CHECK_KEY, Level, meter_signal_key
from quotawatch.core.silences import Silence
from quotawatch.core.snapshot import ErrorKind, Meter, Period, Snapshot
from quotawatch.core.status import status_rows, with_silences

AT = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
CALLS = meter_signal_key("calls")
PERIOD = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def reading(monitor: str, hours_ago: int, used: float, error: bool = False) -> Snapshot:
    at = datetime(2026, 11, 24, 7, 45, tzinfo=UTC).replace(hour=7 - hours_ago)
    if error:
        return Snapshot.failed(monitor, "cloudlayer", at, ErrorKind.AUTH, "the key was rejected")
    return Snapshot(monitor, "cloudlayer", at, PERIOD, (Meter("calls", used, 1000, 1000 - used, "calls"),))


def stored(monitor: str, used: list[float], states: dict[str, SignalState] | None = None) -> StoredMonitor:
    window = [reading(monitor, i, u) for i, u in enumerate(used)]
    return StoredMonitor(states or {}, window, window[0], window[0])


def digest_of(
    stores: dict[str, StoredMonitor],
    failures: dict[str, FailedChecks] | None = None,
    itself: dict[str, SignalState] | None = None,
    silences: tuple[str, ...] = (),
) -> DigestInput:
    monitors = [Monitor(id=m, provider="cloudlayer", secret_field=m) for m in stores]
    rows = status_rows(monitors, stores)
    return DigestInput(AT, UTC_ZONE, rows, failures or {}, itself or {}, silences, "cron(0 8 * * ? *)")


def state(key: str, level: Level) -> SignalState:
    return SignalState(key, level, datetime(2026, 11, 23, 18, 0, tzinfo=UTC), 1, notified_at=None)


def test_all_is_well_in_its_first_line_and_every_meter_with_its_trend_and_forecast() -> None:
    message = render_digest(digest_of({"a": stored("a", [500, 490, 480, 470]), "b": stored("b", [100, 100, 100, 100])}))
    lines = message.email.splitlines()
    assert lines[0] == "All is well: 2 monitors, nothing raised, no failed check in the last day."
    assert message.subject == "[DIGEST] QuotaWatch Tue Nov 24: all is well (2 monitors)"
    assert "Raised: none" in lines
    assert "Silenced:\n  none" in message.email
    assert "Failed checks in the last day:\n  none" in message.email
    assert "  calls  500 of 1,000 calls (50%)  +240 calls/day  limit ~Nov 26" in lines
    assert "  calls  100 of 1,000 calls (10%)  flat" in lines
    assert "If a day passes without it, QuotaWatch is not running" in message.email
    assert (message.severity, message.kind, message.monitor) == ("info", "digest", "QuotaWatch")


def test_what_needs_attention_comes_first_quotawatch_itself_then_what_cannot_be_checked() -> None:
    revoked = StoredMonitor(
        {CHECK_KEY: state(CHECK_KEY, Level.CRITICAL)},
        [reading("keys", 0, 0, error=True), reading("keys", 1, 10)],
        Snapshot.failed("keys", "cloudlayer", reading("keys", 0, 0).checked_at, ErrorKind.AUTH, "401"),
        reading("keys", 1, 10),
    )
    data = digest_of(
        {
            "full": stored(
                "full", [960], {meter_signal_key("calls"): state(meter_signal_key("calls"), Level.CRITICAL)}
            ),
            "keys": revoked,
            "flaky": stored("flaky", [10]),
        },
        failures={"flaky": FailedChecks(3, datetime(2026, 11, 24, 2, 15, tzinfo=UTC))},
        itself={"self:run": state("self:run", Level.CRITICAL)},
        silences=("imagerouter:key:* until Nov 27 08:00 UTC, by ana: migrating",),
    )
    message = render_digest(data)
    assert message.email.splitlines()[0] == (
        "4 need attention: QuotaWatch itself critical (run); keys cannot be checked (auth); "
        "full calls critical (96%); and 1 more"
    )
    assert "  CRITICAL full calls (96%) since Nov 23 18:00 UTC" in message.email
    assert "  CRITICAL keys: cannot be checked since Nov 23 18:00 UTC" in message.email
    assert "  flaky: 3 failed checks, the last at Nov 24 02:15 UTC" in message.email
    assert "Silenced:\n  imagerouter:key:* until Nov 27 08:00 UTC, by ana: migrating" in message.email
    assert message.severity == "info"  # never critical: the SMS filter leaves it out


@pytest.mark.parametrize("name_length", [5, 60, 200])
def test_subject_and_sms_fit_whatever_the_names(name_length: int) -> None:
    name = "m" * name_length
    key = meter_signal_key("calls")
    message = render_digest(digest_of({name: stored(name, [990], {key: state(key, Level.CRITICAL)})}))
    assert message.subject.startswith("[DIGEST] QuotaWatch Tue Nov 24: 1 needs attention")
    assert len(message.subject) <= SUBJECT_MAX
    assert len(message.sms) <= SMS_MAX


@pytest.mark.parametrize(
    ("at", "zone", "key"),
    [
        (AT, "UTC", "MSG#2026-11-24T00:00:00Z#v0#digest"),
        (datetime(2026, 11, 24, 23, 30, tzinfo=UTC), "UTC", "MSG#2026-11-24T00:00:00Z#v0#digest"),
        # 00:30 on Nov 25 in Berlin: that day's digest, whose day began at 23:00 UTC.
        (datetime(2026, 11, 24, 23, 30, tzinfo=UTC), "Europe/Berlin", "MSG#2026-11-24T23:00:00Z#v0#digest"),
        (datetime(2026, 11, 24, 3, 0, tzinfo=UTC), "America/New_York", "MSG#2026-11-23T05:00:00Z#v0#digest"),
    ],
)
def test_one_digest_a_day_keyed_by_its_day_in_its_zone(at: datetime, zone: str, key: str) -> None:
    data = digest_of({"a": stored("a", [1])})
    queued = queued_digest(DigestInput(at, ZoneInfo(zone), data.rows, {}, {}))
    assert (queued.monitor, queued.signal, queued.key) == ("QuotaWatch", "digest", key)


def test_thousands_of_monitors_list_a_hundred_and_say_how_many_more() -> None:
    many = {f"m{i:04d}": stored(f"m{i:04d}", [990], {CALLS: state(CALLS, Level.WARNING)}) for i in range(2000)}
    message = render_digest(digest_of(many))
    assert message.email.startswith("2000 need attention: m0000 calls warning (99%); ")
    assert "  and 1900 more\n" in message.email  # raised
    assert "and 1900 more monitors: `quotawatch status` lists them all." in message.email
    assert len(message.email.encode()) < 64 * 1024  # SNS takes 256 KB


def test_a_silence_in_force_is_listed_and_its_raised_signal_marked_out_of_the_first_line() -> None:
    at = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    silence = Silence(
        id="s-1",
        monitor="a",
        signal="*",
        starts_at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
        ends_at=datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
        author="arn:aws:iam::123456789012:user/ana",
        reason="migrating",
        created_at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
    )
    critical = {meter_signal_key("calls"): state(meter_signal_key("calls"), Level.CRITICAL)}
    data = digest_of({"a": stored("a", [970], critical), "b": stored("b", [1])})
    rows = with_silences(list(data.rows), [silence], at)
    message = render_digest(replace(data, rows=rows, silences=silence_lines([silence], at, UTC_ZONE)))
    assert message.email.startswith("All is well")  # the only raised signal is silenced: someone knows
    assert "Silenced:\n  a until Nov 27 08:00 UTC, by arn:aws:iam::123456789012:user/ana: migrating [s-1]\n" in (
        message.email
    )
    assert ", silenced until Nov 27 08:00 UTC" in message.email


def test_quotawatch_status_shows_until_when_a_silence_holds_a_row() -> None:
    from quotawatch_view.text import Painter, status_text
    from quotawatch_view.times import Zone

    at = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    silence = Silence(
        id="s-2",
        monitor="a*",
        signal="calls",
        starts_at=at,
        ends_at=datetime(2026, 11, 25, 8, 0, tzinfo=UTC),
        author="ana",
        reason="migrating",
        created_at=at,
    )
    data = digest_of({"a": stored("a", [970]), "b": stored("b", [1])})
    rows = with_silences(list(data.rows), [silence], at)
    assert [(row.monitor, row.silenced_until) for row in rows if row.meter == "calls"] == [
        ("a", datetime(2026, 11, 25, 8, 0, tzinfo=UTC)),
        ("b", None),
    ]
    text = status_text(rows, Zone.named("UTC"), Painter(False), "the local stack")
    header = text.splitlines()[2]
    assert header.split()[-1] == "SILENCED"
    assert "Nov 25 08:00" in next(line for line in text.splitlines() if line.startswith("a "))


def waiting(monitor: str) -> StoredMonitor:
    at = reading(monitor, 0, 0).checked_at
    snapshot = Snapshot.failed(monitor, "cloudlayer", at, ErrorKind.NO_KEY, f"{monitor}: waiting for its key: ...")
    return StoredMonitor({}, [snapshot], snapshot, None)


def test_monitors_waiting_for_their_key_are_listed_not_failed() -> None:
    message = render_digest(digest_of({"a": stored("a", [500]), "new-one": waiting("new-one")}))
    lines = message.email.splitlines()
    assert lines[0] == "All is well: 2 monitors (1 waiting for a key), nothing raised, no failed check."
    assert "Waiting for their key (not checked until it is in the secret): new-one" in lines
    assert "new-one (cloudlayer), waiting for its key" in lines
    assert "Failed checks in the last day:\n  none" in message.email


def test_every_line_stays_readable_at_two_thousand_long_named_monitors() -> None:
    names = [f"customer-{i:04d}-" + "x" * 60 for i in range(2000)]
    many = {n: stored(n, [990], {CALLS: state(CALLS, Level.WARNING)}) for n in names[:1000]}
    many |= {n: waiting(n) for n in names[1000:]}
    message = render_digest(digest_of(many, failures={n: FailedChecks(2, AT) for n in names[:1000]}))
    lines = message.email.splitlines()
    assert max(len(line) for line in lines) <= LINE_MAX
    assert lines[0].startswith("2000 need attention: ")
    assert lines[0].endswith(" more")
    [waiting_line] = [line for line in lines if line.startswith("Waiting for their key")]
    assert waiting_line.endswith(" more")
    assert waiting_line.count("customer-") + int(waiting_line.rsplit("and ", 1)[1].split()[0]) == 1000


def spend(monitor: str, per_day: list[float], limit: float | None, budget: float | None) -> StoredMonitor:
    """Daily readings of a spend meter this month (newest first), reported with the provider's
    own `limit` or none; a monitor's `budget` applies to one reported without (fetching.py)."""
    shown = limit if limit is not None else budget
    window = [
        Snapshot(
            monitor,
            "openai",
            datetime(2026, 11, 24 - days_ago, 7, 45, tzinfo=UTC),
            PERIOD,
            (Meter("cost_this_month", used, shown, None if shown is None else shown - used, "USD"),),
        )
        for days_ago, used in enumerate(per_day)
    ]
    return StoredMonitor({}, window, window[0], window[0])


@pytest.mark.parametrize(
    ("per_day", "limit", "line"),
    [
        ([150.0, 137.5, 125.0, 112.5], None, "$150.00 of $200.00 budget (75%), at this pace reached ~Nov 28"),
        ([41.2, 35.9, 30.6], None, "$41.20 of $200.00 budget (21%), not reached at this pace before the reset Dec 1"),
        ([41.2, 41.2, 41.2], None, "$41.20 of $200.00 budget (21%), not reached at this pace"),
        ([41.2], None, "$41.20 of $200.00 budget (21%), too few readings for a pace yet"),
        ([205.0, 190.0, 170.0], None, "$205.00 of $200.00 budget (102%), budget reached"),
        ([41.2, 35.9, 30.6], 500.0, None),  # the provider's own limit is no budget
    ],
)
def test_spend_against_each_budget_with_the_day_it_is_reached(
    per_day: list[float], limit: float | None, line: str | None
) -> None:
    data = digest_of({"openai-org": spend("openai-org", per_day, limit, 200.0), "a": stored("a", [10])})
    message = render_digest(replace(data, budgets={("openai-org", "cost_this_month"): 200.0}))
    if line is None:
        assert "Spend against budget" not in message.email
    else:
        assert f"\n\nSpend against budget:\n  openai-org cost_this_month: {line}\n\n" in message.email


def test_a_digest_without_budgets_has_no_budget_section() -> None:
    data = digest_of({"a": stored("a", [500, 490, 480, 470])})
    assert render_digest(data) == render_digest(replace(data, budgets={("a", "other"): 5.0}))
    assert "budget" not in render_digest(data).email
