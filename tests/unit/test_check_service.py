"""One check run end to end, with the real HTTP client and fake cloudlayer server on loopback
and small in-memory stand-ins for Secrets Manager, DynamoDB and SNS."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from quotawatch.adapters.clock import FixedClock
from quotawatch.adapters.http import HttpClient, HttpPolicy
from quotawatch.adapters.secrets import SecretsKeyStore
from quotawatch.check import CheckDeps, MonitorOutcome, run_check
from quotawatch.config import ConfigProblem, Monitor
from quotawatch.core.alerts import SignalState
from quotawatch.core.messages import Message
from quotawatch.core.rules import Level
from quotawatch.core.snapshot import Snapshot, format_time
from quotawatch_local.fakes import FakeProvider, Reply, always, sequence
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
SECRET = "quotawatch/api-keys"

StartFake = Callable[..., FakeProvider]  # the start_fake fixture of conftest.py


def plan(calls: int, **fields: Any) -> Reply:
    return Reply(200, {**LIMIT_PLAN, "calls": calls, **fields})


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


class MemoryStore:
    """DynamoStore's semantics: snapshots written once per (monitor, second); versioned state."""

    def __init__(self) -> None:
        self.snapshots: dict[tuple[str, str], Snapshot] = {}
        self.state: dict[str, dict[str, SignalState]] = {}

    def put_snapshot(self, snapshot: Snapshot) -> bool:
        key = (snapshot.monitor, str(format_time(snapshot.checked_at)))
        if key in self.snapshots:
            return False
        self.snapshots[key] = snapshot
        return True

    def states(self, monitor: str) -> dict[str, SignalState]:
        return dict(self.state.get(monitor, {}))

    def claim_transition(self, monitor: str, state: SignalState, expected_version: int) -> bool:
        current = self.state.get(monitor, {}).get(state.key)
        if (current.version if current else 0) != expected_version:
            return False
        self.state.setdefault(monitor, {})[state.key] = state
        return True

    def history(self, monitor: str) -> list[Snapshot]:
        return [s for (m, _), s in sorted(self.snapshots.items()) if m == monitor]


class StaleReadStore(MemoryStore):
    """A second invocation that read the state before the first one wrote it."""

    def states(self, monitor: str) -> dict[str, SignalState]:
        return {}


class RecordingNotifier:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def publish(self, message: Message) -> str:
        self.messages.append(message)
        return f"msg-{len(self.messages)}"


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
        )

    def run(self, *monitors: Monitor, problems: tuple[ConfigProblem, ...] = ()) -> list[MonitorOutcome]:
        return run_check(monitors, problems, self.deps)

    def tick(self, hours: int = 1) -> None:
        self.clock.set(self.clock.now() + timedelta(hours=hours))


def monitor(fake: FakeProvider | None, monitor_id: str = "cloudlayer-prod", **fields: Any) -> Monitor:
    fields.setdefault("base_url", fake.base_url if fake is not None else None)
    return Monitor(id=monitor_id, provider="cloudlayer", secret_field=monitor_id, **fields)


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
    assert stored.meter("calls") is not None
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
            "from": "ok",
            "to": "warning",
            "subject": message.subject,
            "sms": message.sms,
            "message_id": "msg-1",
        }
    ]
    assert h.store.states("cloudlayer-prod") == {"meter:calls": SignalState("meter:calls", Level.WARNING, T0, 1)}
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
    assert h.store.states("cloudlayer-prod")["meter:calls"].since == T0  # unchanged since the first run
    assert h.secrets.calls == 1  # the secret is read once and cached


def test_usage_climbing_warns_once_escalates_once_and_recovers_once(start_fake: StartFake) -> None:
    fake = start_fake("climbing")  # calls: 500, 700, 820, 880, 960, 990, then 120 (the period reset)
    h = Harness({"cloudlayer-prod": fake.valid_key})

    for _ in range(7):
        h.run(monitor(fake))
        h.tick()

    assert [m.subject for m in h.notifier.messages] == [
        "[WARNING] cloudlayer-prod: calls at 82% of limit",
        "[CRITICAL] cloudlayer-prod: calls at 96% of limit",
        "[OK] cloudlayer-prod: calls back to normal (12%)",
    ]
    assert [m.kind for m in h.notifier.messages] == ["alert", "alert", "recovery"]
    assert h.store.states("cloudlayer-prod")["meter:calls"].level is Level.OK
    assert h.store.states("cloudlayer-prod")["meter:calls"].version == 3
    assert len(h.store.history("cloudlayer-prod")) == 7


def test_inactive_subscription_alerts_and_clears_when_active_again(start_fake: StartFake) -> None:
    fake = start_fake(sequence(plan(100, subActive=False), plan(100)))
    h = Harness({"cloudlayer-prod": fake.valid_key})

    [first] = h.run(monitor(fake))
    h.tick()
    [second] = h.run(monitor(fake))

    assert first.levels["condition:subscription_inactive"] == "critical"
    assert "condition:subscription_inactive" not in second.levels
    assert [(n["signal"], n["from"], n["to"]) for n in first.notified + second.notified] == [
        ("condition:subscription_inactive", "ok", "critical"),
        ("condition:subscription_inactive", "critical", "ok"),
    ]
    assert [m.severity for m in h.notifier.messages] == ["critical", "info"]


# --- failures ----------------------------------------------------------------------------------


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
    assert h.store.states("no-key") == {}
    assert h.store.states("unreachable") == {}


def test_a_failed_check_keeps_the_alert_state(start_fake: StartFake) -> None:
    fake = start_fake(sequence(plan(820), Reply(500, {"error": "Internal Server Error"})))
    h = Harness({"cloudlayer-prod": fake.valid_key})
    h.run(monitor(fake))
    state_before = h.store.states("cloudlayer-prod")
    h.tick()

    [outcome] = h.run(monitor(fake))

    assert outcome.status == "error"
    assert outcome.error_kind == "unavailable"
    assert outcome.levels == {}
    assert outcome.notified == []
    assert h.store.states("cloudlayer-prod") == state_before  # a check error is not a recovery
    assert len(h.notifier.messages) == 1
    failed = h.store.history("cloudlayer-prod")[-1]
    assert failed.checked_at == T0 + timedelta(hours=1)
    assert failed.meters == ()
    assert failed.error is not None
    assert "answered 500" in failed.error.message


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


# --- exactly once --------------------------------------------------------------------------------


def test_a_duplicate_tick_keeps_the_first_snapshot(start_fake: StartFake) -> None:
    fake = start_fake(sequence(plan(820), plan(830)))
    h = Harness({"cloudlayer-prod": fake.valid_key})

    h.run(monitor(fake))
    [outcome] = h.run(monitor(fake))  # the same scheduled time, delivered twice

    [stored] = h.store.history("cloudlayer-prod")
    calls = stored.meter("calls")
    assert calls is not None
    assert calls.used == 820  # not overwritten by the second delivery's reading
    assert outcome.status == "ok"
    assert len(h.notifier.messages) == 1  # still WARNING: nothing new to say


def test_two_runs_racing_on_one_transition_publish_once(start_fake: StartFake) -> None:
    fake = start_fake(always(plan(820)))
    h = Harness({"cloudlayer-prod": fake.valid_key}, store=StaleReadStore())

    [first] = h.run(monitor(fake))
    h.tick()
    [second] = h.run(monitor(fake))  # reads no state, tries to claim OK -> WARNING again

    assert len(first.notified) == 1
    assert second.notified == []
    assert len(h.notifier.messages) == 1
    assert h.store.state["cloudlayer-prod"]["meter:calls"].version == 1


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
    for text in (outcome.message, json.dumps(outcome.to_dict()), json.dumps(stored.to_dict())):
        assert key not in text
        assert key[:12] not in text  # not even the start of a cut-off key
    assert h.notifier.messages == []
