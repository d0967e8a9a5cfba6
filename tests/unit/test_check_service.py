"""One check run end to end, with the real HTTP client and fake providers on loopback and
small in-memory stand-ins for Secrets Manager, DynamoDB and SNS."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from quotawatch.adapters.clock import FixedClock
from quotawatch.adapters.http import HttpClient, HttpPolicy
from quotawatch.adapters.secrets import SecretsKeyStore
from quotawatch.check import CheckDeps, MonitorOutcome, ReadingsNotStored, run_check
from quotawatch.config import ConfigProblem, Monitor
from quotawatch.core import window
from quotawatch.core.alerts import SignalState
from quotawatch.core.channels import Channel
from quotawatch.core.messages import Message
from quotawatch.core.record import MonitorRecord, QueuedMessage
from quotawatch.core.rules import CHECK_KEY, AlertPolicy, Level
from quotawatch.delivery import Pipeline, deliver
from quotawatch.ports import ChannelFailed, HttpAnswer, HttpRequest, JsonFetcher, Retry
from quotawatch_local.fakes import FakeProvider, Reply, always, sequence
from quotawatch_local.fakes import tornado as fake_tornado
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN
from tests.memory_store import MemoryStore
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


class RecordingNotifier:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.failures = 0  # how many of the next publishes raise
        self.attempts = 0

    def send(self, channel: Channel, queued: QueuedMessage) -> str:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise ChannelFailed("SNS endpoint unreachable")
        self.messages.append(queued.message)
        return f"msg-{len(self.messages)}"

    @property
    def subjects(self) -> list[str]:
        return [m.subject for m in self.messages]


class SyncOnly:
    """The client seen as a plain sync JsonFetcher: run_check then fetches on threads."""

    def __init__(self, http: JsonFetcher) -> None:
        self.http = http

    def fetch(self, request: HttpRequest) -> HttpAnswer:
        return self.http.fetch(request)


@pytest.fixture(autouse=True, params=["on the loop", "on threads"])
def fetched(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run twice: the client's own loop, and a sync fetcher's threads."""
    monkeypatch.setattr(Harness, "sync_only", request.param == "on threads")


class Harness:
    """A check run, then delivery of what it stored, as the notify function would."""

    sync_only = False  # the `fetched` fixture sets it

    def __init__(self, keys: dict[str, str], store: MemoryStore | None = None) -> None:
        self.secrets = FakeSecretsClient(keys)
        self.store = store or MemoryStore()
        self.notifier = RecordingNotifier()
        self.clock = FixedClock(T0)
        self.delays: list[float] = []
        client = HttpClient(HttpPolicy(connect_timeout=0.5, read_timeout=0.5), sleep=self.delays.append)
        self.deps = CheckDeps(
            keys=SecretsKeyStore(self.secrets, SECRET),
            http=SyncOnly(client) if self.sync_only else client,
            store=self.store,
            clock=self.clock,
        )

    def run(self, *monitors: Monitor, problems: tuple[ConfigProblem, ...] = ()) -> list[MonitorOutcome]:
        outcomes = run_check(monitors, problems, self.deps)
        self.deliver()
        return outcomes

    def deliver(self) -> None:
        """Every message the topic has not taken (a retry's schedule, fired at once)."""
        pipeline = Pipeline(self.store, {"topic": self.notifier}, self, self.clock)
        for queued in self.store.unsent():
            deliver(queued, pipeline)

    def later(self, retry: Retry, delay_seconds: int) -> None:
        pass  # `deliver` offers every unsent message again

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
    assert outcome.queued == [
        {
            "signal": "meter:calls",
            "kind": "alert",
            "severity": "warning",
            "subject": message.subject,
            "sms": message.sms,
            "key": "MSG#2026-11-24T01:00:00Z#v1#meter:calls",
        }
    ]
    # The change and its message, stored together (version 1); delivery recorded it as sent.
    assert h.store.states("cloudlayer-prod") == {CALLS: SignalState(CALLS, Level.WARNING, T0, 1, notified_at=T0)}
    assert h.store.sent == {("cloudlayer-prod", "MSG#2026-11-24T01:00:00Z#v1#meter:calls"): "msg-1"}
    assert h.delays == []


def test_an_identical_second_run_publishes_nothing(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    h.run(monitor(fake))
    h.tick()

    [outcome] = h.run(monitor(fake))

    assert outcome.status == "ok"
    assert outcome.queued == []
    assert len(h.notifier.messages) == 1
    assert len(h.store.history("cloudlayer-prod")) == 2
    assert h.store.state("cloudlayer-prod", CALLS) == SignalState(CALLS, Level.WARNING, T0, 1, notified_at=T0)
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
    assert h.store.state("cloudlayer-prod", CALLS).version == 3  # three changes, one version each
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
    assert [(n["signal"], n["kind"], n["severity"]) for n in first.queued + second.queued] == [
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

    assert early.queued == []
    assert [n["kind"] for n in due.queued] == ["reminder"]
    assert after.queued == []
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
    assert [n["kind"] for n in reset.queued] == ["recovery"]
    assert after.queued == []
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
    assert still.queued == []
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
    assert [n["subject"] for n in back.queued] == [
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
    assert outcome.queued == []
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

    assert outcomes["no-key"].status == "waiting"
    assert outcomes["no-key"].error_kind == "no_key"
    assert outcomes["no-key"].message == f"no-key: waiting for its key: secret '{SECRET}' has no field 'no-key' yet"
    assert outcomes["unreachable"].status == "error"
    assert outcomes["unreachable"].error_kind == "unavailable"
    assert outcomes["unreachable"].message == "unreachable: cannot connect to 127.0.0.1 (after 3 attempts)"
    assert outcomes["healthy"].status == "ok"
    assert len(outcomes["healthy"].queued) == 1
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
            "provider": "unknown",
            "status": "error",
            "error": {"kind": "config", "message": problem.message},
            "levels": {},
            "queued": [],
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
            "queued": [],
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
    [stored] = h.store.history("buggy")  # stored, so it counts toward "cannot monitor"
    assert stored.error is not None
    assert stored.error.kind.value == "internal"
    assert fake.valid_key not in str(outcomes[0].to_dict())
    assert outcomes[1].status == "ok"
    assert len(outcomes[1].queued) == 1


# --- exactly once: failed publishes, duplicates, races ----------------------------------------------


class StaleStore(MemoryStore):
    """A run that read the states before another run's writes landed."""

    def __init__(self) -> None:
        super().__init__()
        self.stale: dict[str, dict[str, SignalState]] | None = None

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

    assert len(first.queued) == 1
    assert second.queued == []
    assert len(h.notifier.messages) == 1
    assert store.refused == [(CALLS, 0)]
    assert store.state("cloudlayer-prod", CALLS).version == 1


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
    outcomes: list[MonitorOutcome] = []

    def run(h: Harness) -> None:
        outcomes.extend(run_check((monitor(fake),), (), h.deps))

    threads = [threading.Thread(target=run, args=(h,)) for h in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    store.barrier = None
    runs[0].deliver()
    assert len(outcomes) == 2
    # Past the run's claim of its tick (run_check), both decide OK -> CRITICAL from nothing
    # stored, and the second conditional write is refused.
    assert store.refused == [(CALLS, 0)]
    assert runs[0].notifier.subjects == ["[CRITICAL] cloudlayer-prod: calls at 96% of limit"]
    assert sorted(len(o.queued) for o in outcomes) == [0, 1]
    assert store.state("cloudlayer-prod", CALLS).version == 1


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


# --- a run survives its own failures ----------------------------------------------------------


def test_a_monitor_the_file_could_not_describe_raises_cannot_monitor_after_repeated_runs(start_fake: StartFake) -> None:
    h = Harness({})
    problem = ConfigProblem("broken", "monitors.yaml: monitor 'broken': field 'provider': required")
    for _ in range(3):
        h.run(problems=(problem,))
        h.tick()
    assert h.notifier.subjects == ["[WARNING] Cannot monitor broken: its configuration needs fixing"]
    assert problem.message in h.notifier.messages[0].email


def test_a_snapshot_the_store_refuses_costs_only_its_monitor(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({"healthy": fake.valid_key, "refused": fake.valid_key})
    h.store.failing_writes = {"refused"}

    outcomes = {o.monitor: o for o in h.run(monitor(fake, "refused"), monitor(fake, "healthy"))}

    assert outcomes["healthy"].status == "ok"
    assert len(h.store.history("healthy")) == 1
    assert outcomes["refused"].status == "error"
    assert outcomes["refused"].error_kind == "internal"
    assert outcomes["refused"].message == "refused: this reading could not be stored (see the function log)"
    assert h.store.history("refused") == []


def test_a_run_that_can_store_no_reading_fails_so_that_lambda_retries_it(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({"a": fake.valid_key, "b": fake.valid_key})
    h.store.failing_writes = {"a", "b"}
    with pytest.raises(ReadingsNotStored, match="none of the 2 readings"):
        run_check((monitor(fake, "a"), monitor(fake, "b")), (), h.deps)


class ThrottledCommits(MemoryStore):
    def commit(self, monitor: str, state: SignalState, expected_version: int, queued: QueuedMessage | None) -> bool:
        raise ConnectionError("throttled")


def test_a_failed_state_write_keeps_the_reading(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({"cloudlayer-prod": fake.valid_key}, store=ThrottledCommits())

    [outcome] = h.run(monitor(fake))

    assert outcome.error_kind == "internal"
    assert outcome.message == "cloudlayer-prod: alerting failed (ConnectionError); see the function log"
    [stored] = h.store.history("cloudlayer-prod")  # the good reading is kept ...
    assert stored.ok
    assert "cloudlayer-prod" in h.store.windows  # ... with its window
    assert h.notifier.messages == []


def test_a_failing_evaluation_still_stores_the_reading_in_the_window(
    start_fake: StartFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Patched: no real input makes the rules raise; this is the net under a bug of ours.
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug in the rules")

    monkeypatch.setattr("quotawatch.check.evaluate", broken)
    fake = start_fake(always(plan(820)))
    h = Harness({"cloudlayer-prod": fake.valid_key})

    [outcome] = h.run(monitor(fake))

    assert outcome.message == "cloudlayer-prod: alerting failed (ZeroDivisionError); see the function log"
    [stored] = h.store.history("cloudlayer-prod")
    assert stored.ok
    assert len(window.decode(h.store.windows["cloudlayer-prod"], "cloudlayer-prod")) == 1


def test_a_run_told_to_stop_leaves_the_checks_not_started_unreached(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    ids = [f"m{i}" for i in range(6)]
    h = Harness({i: fake.valid_key for i in ids})
    asked = 0

    def after_three() -> bool:  # the invocation nears its timeout after three checks began
        nonlocal asked
        asked += 1
        return asked > 3

    outcomes = run_check(tuple(monitor(fake, i) for i in ids), (), h.deps, concurrency=1, should_stop=after_three)

    assert [o.status for o in outcomes] == ["ok", "ok", "ok", "unreached", "unreached", "unreached"]
    assert all(o.snapshot is None for o in outcomes[3:])
    assert [i for i in ids if h.store.history(i)] == ["m0", "m1", "m2"]  # nothing stored for the rest
