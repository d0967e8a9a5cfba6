"""One check run end to end, with the real HTTP client and fake providers on loopback and
small in-memory stand-ins for Secrets Manager, DynamoDB and SNS."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from quotawatch.adapters.clock import FixedClock
from quotawatch.adapters.http import HttpClient, HttpPolicy
from quotawatch.adapters.secrets import SecretsKeyStore
from quotawatch.check import CheckDeps, MonitorOutcome, check_monitor, run_check
from quotawatch.config import ConfigProblem, Monitor
from quotawatch.core import window
from quotawatch.core.alerts import SignalState
from quotawatch.core.messages import Message, render_test
from quotawatch.core.outbox import LEASE, MonitorRecord, StoredState
from quotawatch.core.rules import CHECK_KEY, AlertPolicy, Level
from quotawatch.core.snapshot import Snapshot, format_time, parse_time
from quotawatch_local.fakes import FakeProvider, Reply, always, sequence
from quotawatch_local.fakes import tornado as fake_tornado
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN
from tests.unit.support import Serve, StartFake  # types of the serve and start_fake fixtures of conftest.py

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
SECRET = "quotawatch/api-keys"
CALLS = "meter:calls"
TORNADO_KEY = "tk_live_0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"


def plan(calls: int, **fields: Any) -> Reply:
    return Reply(200, {**LIMIT_PLAN, "calls": calls, **fields})


SERVER_ERROR = Reply(500, {"error": "Internal Server Error"})


class Switch:
    """A scenario that answers whatever it is set to, however many attempts a run makes."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    def __call__(self, _call: int) -> Reply:
        return self.reply


# --- in-memory adapters ----------------------------------------------------------------------


class FakeSecretsClient:
    """The one Secrets Manager call SecretsKeyStore makes."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys
        self.calls = 0

    def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 - boto3's argument name
        assert SecretId == SECRET
        self.calls += 1
        return {"SecretString": json.dumps(self.keys)}


def _as_stored(stored: StoredState) -> StoredState:
    """What a state item reads back as from DynamoDB: times to the second, messages as JSON."""

    def second(value: datetime | None) -> datetime | None:
        text = format_time(value)
        return None if text is None else parse_time(text)

    state = stored.state
    since = second(state.since)
    assert since is not None
    return StoredState(
        replace(state, since=since, notified_at=second(state.notified_at)),
        tuple(Message.from_dict(json.loads(json.dumps(m.to_dict()))) for m in stored.outbox),
        second(stored.lease),
    )


class MemoryStore:
    """DynamoStore's semantics: snapshots written once per (monitor, second); windows kept
    as their stored JSON; a signal's state written only if absent (expected version 0) or
    still at the expected version."""

    def __init__(self, monitors_per_read: int = 50, monitors_per_write: int = 12) -> None:
        self.monitors_per_read = monitors_per_read
        self.monitors_per_write = monitors_per_write
        self.snapshots: dict[tuple[str, str], Snapshot] = {}
        self.windows: dict[str, str] = {}
        self.writes: list[list[str]] = []  # the monitors of each put_snapshots, in order
        self.items: dict[str, dict[str, StoredState]] = {}
        self.lock = threading.Lock()  # DynamoDB's conditional update is atomic
        self.refused: list[tuple[str, int]] = []  # (signal, expected version) of refused writes
        self.runs: set[datetime] = set()  # ticks claimed by a run
        self.loads: list[list[str]] = []  # the monitors of each load, in order

    def claim_run(self, tick: datetime) -> bool:
        with self.lock:
            if tick in self.runs:
                return False
            self.runs.add(tick)
            return True

    def put_snapshots(self, snapshots: list[Snapshot], windows: Mapping[str, str]) -> None:
        assert len(snapshots) <= self.monitors_per_write
        with self.lock:
            self.writes.append([s.monitor for s in snapshots])
            for snapshot in snapshots:
                self.snapshots[(snapshot.monitor, str(format_time(snapshot.checked_at)))] = snapshot
            self.windows.update(windows)

    def load(self, monitors: Iterable[str], history: bool = True) -> dict[str, MonitorRecord]:
        monitors = list(monitors)
        assert len(monitors) <= self.monitors_per_read
        with self.lock:
            self.loads.append(monitors)
        return {m: MonitorRecord(self.states(m), self.windows.get(m) if history else None) for m in monitors}

    def recent_snapshots(self, monitor: str, limit: int = window.WINDOW_SIZE) -> list[Snapshot]:
        return self.history(monitor)[::-1][:limit]

    def states(self, monitor: str) -> dict[str, StoredState]:
        with self.lock:
            return dict(self.items.get(monitor, {}))

    def write_state(self, monitor: str, stored: StoredState, expected_version: int) -> bool:
        with self.lock:
            current = self.items.get(monitor, {}).get(stored.state.key)
            if expected_version == 0:
                allowed = current is None  # attribute_not_exists(sk)
            else:
                allowed = current is not None and current.state.version == expected_version
            if not allowed:
                self.refused.append((stored.state.key, expected_version))
                return False
            self.items.setdefault(monitor, {})[stored.state.key] = _as_stored(stored)
            return True

    # For assertions.

    def history(self, monitor: str) -> list[Snapshot]:
        """Oldest first."""
        return [s for (m, _), s in sorted(self.snapshots.items()) if m == monitor]

    def state(self, monitor: str, key: str) -> SignalState:
        return self.items[monitor][key].state

    def levels(self, monitor: str) -> dict[str, Level]:
        return {key: stored.state.level for key, stored in self.items.get(monitor, {}).items()}


class RecordingNotifier:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.failures = 0  # how many of the next publishes raise
        self.attempts = 0

    def publish(self, message: Message) -> str:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("SNS endpoint unreachable")
        self.messages.append(message)
        return f"msg-{len(self.messages)}"

    @property
    def subjects(self) -> list[str]:
        return [m.subject for m in self.messages]


class Harness:
    def __init__(self, keys: dict[str, str], store: MemoryStore | None = None) -> None:
        self.secrets = FakeSecretsClient(keys)
        self.store = store or MemoryStore()
        self.notifier = RecordingNotifier()
        self.clock = FixedClock(T0)
        self.delays: list[float] = []
        self.deps = CheckDeps(
            keys=SecretsKeyStore(self.secrets, SECRET),
            http=HttpClient(HttpPolicy(connect_timeout=0.5, read_timeout=0.5), sleep=self.delays.append),
            store=self.store,
            notifier=self.notifier,
            clock=self.clock,
            wall=self.clock,  # leases age with the test's clock too
        )

    def run(self, *monitors: Monitor, problems: tuple[ConfigProblem, ...] = ()) -> list[MonitorOutcome]:
        return run_check(monitors, problems, self.deps)

    def tick(self, hours: float = 1) -> None:
        self.clock.set(self.clock.now() + timedelta(hours=hours))


def monitor(fake: FakeProvider | None, monitor_id: str = "cloudlayer-prod", **fields: Any) -> Monitor:
    fields.setdefault("base_url", fake.base_url if fake is not None else None)
    return Monitor(id=monitor_id, provider="cloudlayer", secret_field=monitor_id, **fields)


def tornado(fake: FakeProvider) -> Monitor:
    return Monitor(id="tornado-downloads", provider="tornado", secret_field="tornado", base_url=fake.base_url)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- the happy path ----------------------------------------------------------------------------


def test_first_run_stores_a_snapshot_and_publishes_one_warning(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({"cloudlayer-prod": fake.valid_key})

    [outcome] = h.run(monitor(fake))

    assert outcome.status == "ok"
    assert outcome.error_kind is None
    assert outcome.levels == {
        "meter:calls": "warning",
        "meter:output_bytes": "ok",
        "meter:compute_time": "ok",
        "meter:storage": "ok",
    }
    [stored] = h.store.history("cloudlayer-prod")
    assert stored == outcome.snapshot
    assert stored.ok
    assert stored.checked_at == T0
    assert stored.provider == "cloudlayer"
    assert stored.to_dict()["meters"][0] == {
        "name": "calls",
        "used": 820,
        "limit": 1000,
        "remaining": 180,
        "unit": "calls",
    }

    [message] = h.notifier.messages
    assert message.subject == "[WARNING] cloudlayer-prod: calls at 82% of limit"
    assert message.severity == "warning"
    assert message.kind == "alert"
    assert "cloudlayer-prod (cloudlayer.io) is WARNING" in message.email
    assert outcome.notified == [
        {
            "signal": "meter:calls",
            "kind": "alert",
            "severity": "warning",
            "subject": message.subject,
            "sms": message.sms,
            "message_id": "msg-1",
        }
    ]
    # Claimed (version 1), then settled with an empty outbox and no lease (version 2).
    assert h.store.states("cloudlayer-prod") == {
        CALLS: StoredState(SignalState(CALLS, Level.WARNING, T0, 2, notified_at=T0), (), None)
    }
    assert h.delays == []


def test_an_identical_second_run_publishes_nothing(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    h.run(monitor(fake))
    h.tick()

    [outcome] = h.run(monitor(fake))

    assert outcome.status == "ok"
    assert outcome.notified == []
    assert len(h.notifier.messages) == 1
    assert len(h.store.history("cloudlayer-prod")) == 2
    assert h.store.state("cloudlayer-prod", CALLS) == SignalState(CALLS, Level.WARNING, T0, 2, notified_at=T0)
    assert h.secrets.calls == 1  # the secret is read once and cached


def test_usage_climbing_warns_once_escalates_once_and_resets_once(start_fake: StartFake) -> None:
    fake = start_fake("climbing")  # calls: 500, 700, 820, 880, 960, 990, then 120 (the period reset)
    h = Harness({"cloudlayer-prod": fake.valid_key})

    for _ in range(7):
        h.run(monitor(fake))
        h.tick()

    assert h.notifier.subjects == [
        "[WARNING] cloudlayer-prod: calls at 82% of limit",
        "[CRITICAL] cloudlayer-prod: calls at 96% of limit",
        "[OK] cloudlayer-prod: calls reset with the new billing period (12%)",
    ]
    assert [m.kind for m in h.notifier.messages] == ["alert", "alert", "recovery"]
    assert [m.severity for m in h.notifier.messages] == ["warning", "critical", "info"]
    assert h.store.state("cloudlayer-prod", CALLS).level is Level.OK
    assert h.store.state("cloudlayer-prod", CALLS).version == 6  # three changes, each claimed and settled
    assert len(h.store.history("cloudlayer-prod")) == 7


def test_hovering_around_the_threshold_does_not_flap(start_fake: StartFake) -> None:
    switch = Switch(plan(810))
    fake = start_fake(switch)
    h = Harness({"cloudlayer-prod": fake.valid_key})

    for calls in (810, 790, 805, 780, 799, 740):
        switch.reply = plan(calls)
        h.run(monitor(fake, policy=AlertPolicy(remind_every=None)))
        h.tick()

    assert h.notifier.subjects == [
        "[WARNING] cloudlayer-prod: calls at 81% of limit",
        "[OK] cloudlayer-prod: calls back to normal (74%)",
    ]


def test_inactive_subscription_alerts_and_clears_when_active_again(start_fake: StartFake) -> None:
    fake = start_fake(sequence(plan(100, subActive=False), plan(100)))
    h = Harness({"cloudlayer-prod": fake.valid_key})

    [first] = h.run(monitor(fake))
    h.tick()
    [second] = h.run(monitor(fake))

    assert first.levels["condition:subscription_inactive"] == "critical"
    assert "condition:subscription_inactive" not in second.levels
    assert [(n["signal"], n["kind"], n["severity"]) for n in first.notified + second.notified] == [
        ("condition:subscription_inactive", "alert", "critical"),
        ("condition:subscription_inactive", "recovery", "info"),
    ]
    assert h.notifier.subjects == [
        "[CRITICAL] cloudlayer-prod: subscription inactive",
        "[OK] cloudlayer-prod: subscription inactive: no longer reported",
    ]


def test_a_reminder_after_24_hours_and_not_before(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({"cloudlayer-prod": fake.valid_key})

    h.run(monitor(fake))
    h.tick(23.75)
    [early] = h.run(monitor(fake))
    h.tick(0.25)  # exactly 24 hours after the alert
    [due] = h.run(monitor(fake))
    h.tick(1)
    [after] = h.run(monitor(fake))

    assert early.notified == []
    assert [n["kind"] for n in due.notified] == ["reminder"]
    assert after.notified == []
    assert h.notifier.subjects == [
        "[WARNING] cloudlayer-prod: calls at 82% of limit",
        "[WARNING] Reminder: cloudlayer-prod: calls at 82% of limit",
    ]
    assert "is still WARNING, since 2026-11-24 01:00 UTC" in h.notifier.messages[1].email
    state = h.store.state("cloudlayer-prod", CALLS)
    assert (state.since, state.notified_at) == (T0, T0 + timedelta(hours=24))


def test_no_reminder_when_reminders_are_off(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    quiet = monitor(fake, policy=AlertPolicy(remind_every=None))

    for _ in range(3):
        h.run(quiet)
        h.tick(30)

    assert len(h.notifier.messages) == 1


def test_a_new_billing_period_sends_one_reset_message(serve: Serve) -> None:
    november = {"billing_period_start": "2026-11-01T00:00:00Z", "billing_period_end": "2026-12-01T00:00:00Z"}
    december = {"billing_period_start": "2026-12-01T00:00:00Z", "billing_period_end": "2027-01-01T00:00:00Z"}

    def trial(effective: float, period: dict[str, str]) -> Reply:
        return Reply(
            200,
            {
                **fake_tornado.TRIAL_KEY,
                "storage_effective_usage_gb": effective,
                "storage_remaining_gb": 1000 - effective,
                **period,
            },
        )

    switch = Switch(trial(960, november))
    fake = serve(fake_tornado.API, TORNADO_KEY, switch)
    h = Harness({"tornado": TORNADO_KEY})

    h.run(tornado(fake))
    h.tick()
    switch.reply = trial(780, december)  # 78% would hold a warning by hysteresis; a new period starts over
    [reset] = h.run(tornado(fake))
    h.tick()
    [after] = h.run(tornado(fake))

    assert h.notifier.subjects == [
        "[CRITICAL] tornado-downloads: storage at 96% of limit, resets Dec 1",
        "[OK] tornado-downloads: storage reset with the new billing period (78%)",
    ]
    assert reset.levels["meter:storage"] == "ok"
    assert [n["kind"] for n in reset.notified] == ["recovery"]
    assert after.notified == []
    assert h.store.state("tornado-downloads", "meter:storage").level is Level.OK


# --- check errors --------------------------------------------------------------------------------


def test_a_rejected_key_cannot_monitor_at_once_and_a_later_success_says_so(serve: Serve) -> None:
    switch = Switch(fake_tornado.API.unauthorized)
    fake = serve(fake_tornado.API, TORNADO_KEY, switch)
    h = Harness({"tornado": TORNADO_KEY})

    [failed] = h.run(tornado(fake))
    h.tick()
    [still] = h.run(tornado(fake))
    switch.reply = Reply(200, fake_tornado.TRIAL_KEY)
    h.tick()
    [works] = h.run(tornado(fake))

    assert failed.error_kind == "auth"
    assert failed.levels == {CHECK_KEY: "critical"}
    assert still.notified == []
    assert works.status == "ok"
    assert CHECK_KEY not in works.levels
    assert h.notifier.subjects == [
        "[CRITICAL] Cannot monitor tornado-downloads: the key was rejected",
        "[OK] tornado-downloads: checks work again",
    ]
    assert [m.kind for m in h.notifier.messages] == ["alert", "recovery"]
    assert "check field 'tornado' of secret 'quotawatch/api-keys'" in h.notifier.messages[0].email
    assert h.store.levels("tornado-downloads") == {CHECK_KEY: Level.OK}  # the trial key's storage is at 41%


def test_a_rejected_key_then_an_outage_is_still_cannot_monitor(serve: Serve) -> None:
    """Only a check that works says "checks work again"; another kind of failure eases it."""
    switch = Switch(fake_tornado.API.unauthorized)
    fake = serve(fake_tornado.API, TORNADO_KEY, switch)
    h = Harness({"tornado": TORNADO_KEY})

    h.run(tornado(fake))
    switch.reply = Reply(503, {"error": "Service Unavailable"})
    h.tick()
    [outage] = h.run(tornado(fake))
    switch.reply = Reply(200, fake_tornado.TRIAL_KEY)
    h.tick()
    h.run(tornado(fake))

    assert outage.levels == {CHECK_KEY: "warning"}
    assert h.notifier.subjects == [
        "[CRITICAL] Cannot monitor tornado-downloads: the key was rejected",
        "[WARNING] Cannot monitor tornado-downloads: the provider is not answering",
        "[OK] tornado-downloads: checks work again",
    ]


def test_an_unavailable_provider_alerts_only_at_the_third_failure_and_keeps_meter_states(
    start_fake: StartFake,
) -> None:
    switch = Switch(plan(820))
    fake = start_fake(switch)
    h = Harness({"cloudlayer-prod": fake.valid_key})
    h.run(monitor(fake))
    meters_before = {k: v for k, v in h.store.states("cloudlayer-prod").items() if k != CHECK_KEY}

    switch.reply = SERVER_ERROR
    outcomes = []
    for _ in range(4):
        h.tick(10)  # reminders for the raised meter would be due: a failed check says nothing about it
        [outcome] = h.run(monitor(fake))
        outcomes.append(outcome)
        assert {k: v for k, v in h.store.states("cloudlayer-prod").items() if k != CHECK_KEY} == meters_before

    assert [o.error_kind for o in outcomes] == ["unavailable"] * 4
    assert [o.levels for o in outcomes] == [{}, {}, {CHECK_KEY: "warning"}, {CHECK_KEY: "warning"}]
    assert h.notifier.subjects == [
        "[WARNING] cloudlayer-prod: calls at 82% of limit",
        "[WARNING] Cannot monitor cloudlayer-prod: the provider is not answering",
    ]

    switch.reply = plan(820)
    h.tick()
    [back] = h.run(monitor(fake))
    # Checks work again; the meter is where it was (no "calls" message), and a day has passed
    # since its alert, so a reminder is due now that it can be read.
    assert [n["subject"] for n in back.notified] == [
        "[OK] cloudlayer-prod: checks work again",
        "[WARNING] Reminder: cloudlayer-prod: calls at 82% of limit",
    ]


def test_a_failed_check_keeps_the_alert_state(start_fake: StartFake) -> None:
    fake = start_fake(Switch(plan(820)))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    h.run(monitor(fake))
    state_before = h.store.states("cloudlayer-prod")
    fake.scenario = always(SERVER_ERROR)
    h.tick()

    [outcome] = h.run(monitor(fake))

    assert outcome.status == "error"
    assert outcome.error_kind == "unavailable"
    assert outcome.levels == {}  # the first failure is not news yet
    assert outcome.notified == []
    assert h.store.states("cloudlayer-prod") == state_before  # a check error is not a recovery
    assert len(h.notifier.messages) == 1
    failed = h.store.history("cloudlayer-prod")[-1]
    assert failed.checked_at == T0 + timedelta(hours=1)
    assert failed.meters == ()
    assert failed.error is not None
    assert "answered 500" in failed.error.message


def test_one_monitors_failure_does_not_stop_the_others(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({"healthy": fake.valid_key, "unreachable": fake.valid_key})
    monitors = (
        monitor(fake, "no-key"),  # its secret field is not in the secret
        monitor(None, "unreachable", base_url=closed_port_url()),
        monitor(fake, "healthy"),
    )

    outcomes = {o.monitor: o for o in h.run(*monitors)}

    assert outcomes["no-key"].status == "error"
    assert outcomes["no-key"].error_kind == "config"
    assert outcomes["no-key"].message == (
        f"no-key: secret '{SECRET}' has no field 'no-key'; add it with the monitor's API key"
    )
    assert outcomes["unreachable"].status == "error"
    assert outcomes["unreachable"].error_kind == "unavailable"
    assert outcomes["unreachable"].message == "unreachable: cannot connect to 127.0.0.1 (after 3 attempts)"
    assert outcomes["healthy"].status == "ok"
    assert len(outcomes["healthy"].notified) == 1
    assert [m.monitor for m in h.notifier.messages] == ["healthy"]
    # Every monitor left a snapshot; the failed ones carry their error and no meters.
    for monitor_id in ("no-key", "unreachable"):
        [snapshot] = h.store.history(monitor_id)
        assert snapshot.error is not None
        assert snapshot.error.kind.value == outcomes[monitor_id].error_kind
        assert snapshot.meters == ()
    assert h.store.states("no-key") == {}  # one failure is not yet "cannot check"
    assert h.store.states("unreachable") == {}


def test_bad_data_is_a_bad_response_naming_the_field(start_fake: StartFake) -> None:
    fake = start_fake("missing-calls")
    h = Harness({"cloudlayer-prod": fake.valid_key})

    [outcome] = h.run(monitor(fake))

    assert outcome.error_kind == "bad_response"
    assert outcome.message == "cloudlayer-prod: cloudlayer.io answered with unexpected data: field 'calls' is missing"
    assert h.notifier.messages == []


def test_a_rejected_key_points_at_the_secret(start_fake: StartFake) -> None:
    fake = start_fake("limit-plan")
    h = Harness({"cloudlayer-prod": "an-old-revoked-key"})

    [outcome] = h.run(monitor(fake))

    assert outcome.error_kind == "auth"
    assert outcome.message == (
        "cloudlayer-prod: 127.0.0.1 rejected the API key (401: Unauthorized); "
        f"check field 'cloudlayer-prod' of secret '{SECRET}'"
    )
    assert h.delays == []  # a rejected key is not retried
    assert h.notifier.subjects == ["[CRITICAL] Cannot monitor cloudlayer-prod: the key was rejected"]


def test_unknown_provider_is_a_config_error_snapshot() -> None:
    h = Harness({})
    [outcome] = h.run(Monitor(id="acme", provider="acme", secret_field="acme"))

    assert outcome.status == "error"
    assert outcome.error_kind == "config"
    assert outcome.message == "acme: unknown provider 'acme'"
    assert h.store.history("acme")[0].error is not None


def test_config_problems_are_reported_alongside_the_checks(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(100)))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    problem = ConfigProblem("broken", "monitors.yaml: monitor 'broken': field 'provider': required")

    outcomes = h.run(monitor(fake), problems=(problem,))

    assert [o.to_dict() for o in outcomes] == [
        {
            "monitor": "broken",
            "provider": "?",
            "status": "error",
            "error": {"kind": "config", "message": problem.message},
            "levels": {},
            "notified": [],
        },
        {
            "monitor": "cloudlayer-prod",
            "provider": "cloudlayer",
            "status": "ok",
            "levels": {
                "meter:calls": "ok",
                "meter:output_bytes": "ok",
                "meter:compute_time": "ok",
                "meter:storage": "ok",
            },
            "notified": [],
        },
    ]


class ExplodingKeyStore:
    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys

    def where(self, field: str) -> str:
        return f"field '{field}' of secret '{SECRET}'"

    def refresh(self, field: str, run: datetime) -> str | None:
        return None

    def get(self, field: str) -> str:
        if field == "buggy":
            raise RuntimeError(f"internal detail {self.keys[next(iter(self.keys))]}")
        return self.keys[field]


def test_an_unexpected_exception_is_contained(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({})
    h.deps.keys = ExplodingKeyStore({"cloudlayer-prod": fake.valid_key})

    outcomes = h.run(monitor(fake, "buggy"), monitor(fake))

    assert outcomes[0].status == "error"
    assert outcomes[0].error_kind == "internal"
    assert outcomes[0].message == "buggy: unexpected RuntimeError; see the function log"
    assert fake.valid_key not in str(outcomes[0].to_dict())
    assert outcomes[1].status == "ok"
    assert len(outcomes[1].notified) == 1


# --- exactly once: failed publishes, duplicates, races ----------------------------------------------


def test_a_failed_publish_stays_in_the_outbox_and_the_next_run_sends_it_once(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    h.notifier.failures = 1

    [first] = h.run(monitor(fake))

    assert first.notified == []
    assert h.notifier.messages == []
    stored = h.store.states("cloudlayer-prod")[CALLS]
    assert stored.state.level is Level.WARNING  # the transition is recorded ...
    [queued] = stored.outbox  # ... and its message kept for the next run
    assert queued.subject == "[WARNING] cloudlayer-prod: calls at 82% of limit"
    assert stored.lease is None  # released: the next run need not wait for it
    assert stored.awaits_delivery(T0)

    h.tick()
    [second] = h.run(monitor(fake))
    h.tick()
    [third] = h.run(monitor(fake))

    assert [n["subject"] for n in second.notified] == [queued.subject]
    assert third.notified == []
    assert h.notifier.messages == [queued]  # exactly once
    assert h.store.states("cloudlayer-prod")[CALLS].outbox == ()


def test_messages_queued_behind_a_failure_go_out_in_order_with_the_next_change(start_fake: StartFake) -> None:
    switch = Switch(plan(820))
    fake = start_fake(switch)
    h = Harness({"cloudlayer-prod": fake.valid_key})
    h.notifier.failures = 1
    h.run(monitor(fake))

    switch.reply = plan(960)
    h.tick()
    [second] = h.run(monitor(fake))

    assert [n["subject"] for n in second.notified] == [
        "[WARNING] cloudlayer-prod: calls at 82% of limit",
        "[CRITICAL] cloudlayer-prod: calls at 96% of limit",
    ]
    assert h.notifier.subjects == [n["subject"] for n in second.notified]
    assert h.store.state("cloudlayer-prod", CALLS).level is Level.CRITICAL
    assert h.store.states("cloudlayer-prod")[CALLS].outbox == ()


def test_a_publish_failing_again_keeps_the_rest_of_the_outbox(start_fake: StartFake) -> None:
    switch = Switch(plan(820))
    fake = start_fake(switch)
    h = Harness({"cloudlayer-prod": fake.valid_key})
    h.notifier.failures = 1
    h.run(monitor(fake))  # WARNING queued
    switch.reply = plan(960)
    h.tick()
    h.notifier.failures = 2
    h.run(monitor(fake))  # WARNING fails again; CRITICAL queued behind it, and fails too

    queued = h.store.states("cloudlayer-prod")[CALLS].outbox
    assert [m.subject for m in queued] == [
        "[WARNING] cloudlayer-prod: calls at 82% of limit",
        "[CRITICAL] cloudlayer-prod: calls at 96% of limit",
    ]
    assert h.notifier.messages == []

    h.tick()
    h.run(monitor(fake))
    assert h.notifier.messages == list(queued)
    h.tick()
    h.run(monitor(fake))
    assert h.notifier.messages == list(queued)


def test_an_outbox_under_another_runs_lease_is_left_alone_until_the_lease_runs_out(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    h.run(monitor(fake))
    pending = render_test(T0, 1)
    held = StoredState(SignalState(CALLS, Level.WARNING, T0, 3, notified_at=T0), (pending,), lease=T0)
    assert h.store.write_state("cloudlayer-prod", held, 2)  # another run claimed it at T0 and is publishing

    h.clock.set(T0 + LEASE - timedelta(seconds=1))
    [during] = h.run(monitor(fake))
    assert during.notified == []
    assert h.store.states("cloudlayer-prod")[CALLS] == held

    h.clock.set(T0 + LEASE)  # that run died: its lease ran out
    [after] = h.run(monitor(fake))
    assert [n["subject"] for n in after.notified] == [pending.subject]
    assert h.notifier.messages[-1] == pending
    settled = h.store.states("cloudlayer-prod")[CALLS]
    assert (settled.outbox, settled.lease, settled.state.version) == ((), None, 5)


def test_a_duplicate_tick_keeps_the_first_snapshot_and_publishes_nothing_new(start_fake: StartFake) -> None:
    fake = start_fake(sequence(plan(820), plan(990)))
    h = Harness({"cloudlayer-prod": fake.valid_key})

    [first] = h.run(monitor(fake))
    [again] = h.run(monitor(fake))  # the same scheduled time, delivered twice

    [stored] = h.store.history("cloudlayer-prod")
    calls = stored.meter("calls")
    assert calls is not None
    assert calls.used == 820  # not overwritten by the second delivery's reading
    assert not first.duplicate
    assert again.duplicate
    assert again.to_dict()["duplicate"] is True
    assert again.notified == []
    assert again.levels == {}
    assert h.notifier.subjects == ["[WARNING] cloudlayer-prod: calls at 82% of limit"]  # 99% was not judged
    assert h.store.state("cloudlayer-prod", CALLS).version == 2


def test_a_duplicate_tick_leaves_an_undelivered_message_to_the_next_tick(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    h.notifier.failures = 1
    h.run(monitor(fake))

    [again] = h.run(monitor(fake))  # the scheduler's retry of the same tick does nothing
    assert again.duplicate
    assert again.notified == []
    h.tick(0.25)
    [later] = h.run(monitor(fake))  # the next tick delivers it, once
    assert [n["subject"] for n in later.notified] == ["[WARNING] cloudlayer-prod: calls at 82% of limit"]
    assert len(h.notifier.messages) == 1


class StaleStore(MemoryStore):
    """A run that read the states before another run's writes landed."""

    def __init__(self) -> None:
        super().__init__()
        self.stale: dict[str, dict[str, StoredState]] | None = None

    def load(self, monitors: Iterable[str], history: bool = True) -> dict[str, MonitorRecord]:
        records = super().load(monitors, history)
        if self.stale is not None:
            for monitor_id, record in records.items():
                record.states = dict(self.stale.get(monitor_id, {}))
        return records


def test_a_run_that_read_stale_states_cannot_claim_the_same_transition(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    store = StaleStore()
    h = Harness({"cloudlayer-prod": fake.valid_key}, store=store)
    store.stale = {}  # what both runs read: nothing stored yet

    [first] = h.run(monitor(fake))
    h.tick(1 / 60)  # a manual invoke a minute later, racing the scheduled one
    [second] = h.run(monitor(fake))  # tries to claim OK -> WARNING again, from version 0

    assert len(first.notified) == 1
    assert second.notified == []
    assert len(h.notifier.messages) == 1
    assert store.refused == [(CALLS, 0)]
    assert store.state("cloudlayer-prod", CALLS).version == 2


class BarrierStore(MemoryStore):
    """Two runs read the states, wait for each other, then both try to write."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier: threading.Barrier | None = threading.Barrier(parties, timeout=10)

    def load(self, monitors: Iterable[str], history: bool = True) -> dict[str, MonitorRecord]:
        read = super().load(monitors, history)
        if self.barrier is not None:
            self.barrier.wait()
        return read


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(seconds=30)], ids=["same-tick", "two-ticks"])
def test_two_runs_racing_on_one_transition_publish_once(start_fake: StartFake, offset: timedelta) -> None:
    fake = start_fake(always(plan(960)))
    store = BarrierStore(parties=2)
    runs = [Harness({"cloudlayer-prod": fake.valid_key}, store=store) for _ in range(2)]
    runs[1].clock.set(T0 + offset)
    runs[1].notifier = runs[0].notifier
    runs[1].deps.notifier = runs[0].notifier
    outcomes: list[MonitorOutcome] = []

    def run(h: Harness) -> None:
        outcomes.append(check_monitor(monitor(fake), h.deps))

    threads = [threading.Thread(target=run, args=(h,)) for h in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    store.barrier = None
    assert len(outcomes) == 2
    # Past the run's claim of its tick (run_check), both decide OK -> CRITICAL from nothing
    # stored, and the second conditional write is refused.
    assert store.refused == [(CALLS, 0)]
    assert runs[0].notifier.subjects == ["[CRITICAL] cloudlayer-prod: calls at 96% of limit"]
    assert sorted(len(o.notified) for o in outcomes) == [0, 1]
    assert store.state("cloudlayer-prod", CALLS).version == 2
    assert store.states("cloudlayer-prod")[CALLS].outbox == ()


# --- the key never leaks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["cl_live_5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b", "cl_" + "x" * 180],
    ids=["typical", "longer-than-the-detail-limit"],
)
def test_a_key_echoed_by_the_provider_is_redacted(start_fake: StartFake, key: str) -> None:
    fake = start_fake(always(Reply(401, {"error": f"Invalid API Key: {key}"})), key=key)
    h = Harness({"cloudlayer-prod": key})

    [outcome] = h.run(monitor(fake))

    assert outcome.error_kind == "auth"
    assert outcome.message is not None
    assert "Invalid API Key: [redacted]" in outcome.message
    [stored] = h.store.history("cloudlayer-prod")
    [message] = h.notifier.messages  # a rejected key is news at once
    texts = [outcome.message, json.dumps(outcome.to_dict()), json.dumps(stored.to_dict())]
    texts += [message.subject, message.email, message.sms]
    assert "Invalid API Key: [redacted]" in message.email
    for text in texts:
        assert key not in text
        assert key[:12] not in text  # not even the start of a cut-off key


def test_a_signal_whose_queue_another_run_is_delivering_is_left_for_the_next_run(start_fake: StartFake) -> None:
    """Changing it now would copy the other run's messages into this run's queue: sent twice."""
    fake = start_fake(always(plan(960)))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    leased = StoredState(
        SignalState(CALLS, Level.WARNING, T0 - timedelta(hours=2), 3, notified_at=T0 - timedelta(hours=2)),
        outbox=(render_test(T0, 1),),
        lease=T0 - LEASE / 2,  # another run took it on moments ago
    )
    h.store.items["cloudlayer-prod"] = {CALLS: leased}

    h.run(monitor(fake))
    assert h.notifier.subjects == []
    assert h.store.state("cloudlayer-prod", CALLS).level is Level.WARNING  # decided next run

    h.tick(LEASE.total_seconds() / 3600)  # the lease runs out: this run takes the queue over
    h.run(monitor(fake))
    assert h.notifier.subjects == [
        "[TEST] QuotaWatch test alert: your subscriptions work",
        "[CRITICAL] cloudlayer-prod: calls at 96% of limit",
    ]


def test_warm_runs_read_the_secret_once_and_a_rotated_key_is_picked_up_when_the_old_one_fails(
    start_fake: StartFake,
) -> None:
    fake = start_fake(always(plan(500)))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    h.run(monitor(fake))
    h.tick()
    h.run(monitor(fake))
    assert h.secrets.calls == 1  # a warm run makes no Secrets Manager call

    fake.valid_key = "cl_live_rotated_0000000000000000"  # the provider rejects the old key...
    h.secrets.keys = {"cloudlayer-prod": fake.valid_key}  # ...and the user put the new one in
    h.tick()
    [outcome] = h.run(monitor(fake))
    assert outcome.status == "ok"
    assert h.secrets.calls == 2
    assert h.notifier.subjects == []  # the rotation never showed as "cannot monitor"


def test_a_rejected_key_with_nothing_new_in_the_secret_is_an_auth_error(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(500)))
    h = Harness({"cloudlayer-prod": "cl_live_revoked_key_00000000000"})
    [outcome] = h.run(monitor(fake))
    assert outcome.error_kind == "auth"
    h.tick()
    h.run(monitor(fake))
    assert h.secrets.calls == 3  # read once, then again once per run whose key was rejected


def test_leases_run_in_real_time_not_in_schedule_ticks(start_fake: StartFake) -> None:
    """A late retry of an old tick overlapping the next tick's run: the later tick is no
    reason to take over messages the other run is publishing right now."""
    fake = start_fake(always(plan(960)))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    h.deps.wall = FixedClock(T0)  # real time stands still while the ticks move on
    leased = StoredState(
        SignalState(CALLS, Level.WARNING, T0, 3, notified_at=T0), outbox=(render_test(T0, 1),), lease=T0
    )
    h.store.items["cloudlayer-prod"] = {CALLS: leased}
    h.tick(hours=0.25)  # the next schedule tick, a quarter hour later
    h.run(monitor(fake))
    assert h.notifier.subjects == []


# --- what a run reads and writes -------------------------------------------------------------


def test_a_run_reads_all_monitors_at_once_and_stores_each_window(start_fake: StartFake) -> None:
    fake = start_fake(Switch(plan(500)))
    h = Harness({"a": fake.valid_key, "b": fake.valid_key})
    watched = (monitor(fake, "a"), monitor(fake, "b"))

    h.run(*watched)
    h.tick(0.25)
    h.run(*watched)

    assert h.store.loads == [["a", "b"], ["a", "b"]]  # one batched read per run, not one per monitor
    assert [sorted(w) for w in h.store.writes] == [["a", "b"], ["a", "b"]]  # in the order the checks finish
    for monitor_id in ("a", "b"):
        recent = window.decode(h.store.windows[monitor_id], monitor_id)
        assert [r.checked_at for r in recent] == [T0 + timedelta(hours=0.25), T0]
        assert [m.used for r in recent for m in r.meters if m.name == "calls"] == [500, 500]


def test_without_a_window_the_history_comes_from_the_snapshots(start_fake: StartFake) -> None:
    switch = Switch(SERVER_ERROR)
    fake = start_fake(switch)
    h = Harness({"cloudlayer-prod": fake.valid_key})
    for _ in range(2):
        h.run(monitor(fake))
        h.tick(0.25)
    h.store.windows.clear()  # lost, or written by a version that kept none

    [third] = h.run(monitor(fake))

    # Two failures read back from the snapshots, and this one: "cannot check" at the third.
    assert third.levels == {CHECK_KEY: "warning"}
    assert len(window.decode(h.store.windows["cloudlayer-prod"], "cloudlayer-prod")) == 3


def test_the_window_keeps_the_recent_readings_then_one_an_hour(start_fake: StartFake) -> None:
    fake = start_fake(Switch(plan(100)))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    for _ in range(4 * 30):  # 30 hours of checks every 15 minutes
        h.run(monitor(fake))
        h.tick(0.25)

    recent = window.decode(h.store.windows["cloudlayer-prod"], "cloudlayer-prod")

    assert len(recent) == window.RECENT + 29  # the last hour in full, then the first of each earlier hour
    assert recent[-1].checked_at == T0
    assert len(h.store.history("cloudlayer-prod")) == 4 * 30  # the snapshots keep everything


def test_many_monitors_are_read_and_written_a_batch_at_a_time(start_fake: StartFake) -> None:
    fake = start_fake(Switch(plan(500)))
    ids = [f"m{n}" for n in range(5)]
    h = Harness(dict.fromkeys(ids, fake.valid_key), store=MemoryStore(monitors_per_read=2, monitors_per_write=2))

    outcomes = h.run(*(monitor(fake, i) for i in ids))

    assert [o.monitor for o in outcomes] == ids
    assert sorted(h.store.loads) == [["m0", "m1"], ["m2", "m3"], ["m4"]]
    assert sorted(len(w) for w in h.store.writes) == [1, 2, 2]  # as checks finish, then the rest
    assert sorted(m for w in h.store.writes for m in w) == ids
    assert set(h.store.windows) == set(ids)


def test_a_damaged_window_is_reported_and_the_history_comes_from_the_snapshots(
    start_fake: StartFake, caplog: pytest.LogCaptureFixture
) -> None:
    fake = start_fake(Switch(SERVER_ERROR))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    for _ in range(2):
        h.run(monitor(fake))
        h.tick(0.25)
    h.store.windows["cloudlayer-prod"] = '{"format":1,"readings":2,"newest":'  # cut short

    with caplog.at_level(logging.WARNING, logger="quotawatch.check"):
        [third] = h.run(monitor(fake))

    assert "window of cloudlayer-prod is unreadable" in caplog.text
    assert third.levels == {CHECK_KEY: "warning"}  # the two earlier failures were read from the snapshots
    assert len(window.decode(h.store.windows["cloudlayer-prod"], "cloudlayer-prod")) == 3  # and it is whole again
