"""DynamoStore against the deployed table: how many calls a run makes (the semantics are in
test_store_contract.py, shared with the in-memory store)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from quotawatch.adapters.store import DynamoStore
from quotawatch.core import window
from quotawatch.core.messages import Message
from quotawatch.core.record import QueuedMessage
from quotawatch.core.snapshot import ErrorKind, Meter, Period, Snapshot
from quotawatch_local.aws_counter import AwsCallCounter
from quotawatch_local.embedded_aws import EmbeddedAws
from quotawatch_local.local_stack import LocalStack

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.fixture
def counter(stack: LocalStack) -> Iterator[AwsCallCounter]:
    proxy = AwsCallCounter(stack.aws.endpoint_url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def store(stack: LocalStack, counter: AwsCallCounter) -> DynamoStore:
    """A store whose every DynamoDB call goes through the counter."""
    client = EmbeddedAws.attach(counter.endpoint_url).client("dynamodb")
    return DynamoStore(client, stack.outputs["TableName"])


def reading(monitor: str, minutes: int, used: float) -> Snapshot:
    period = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    meters = (Meter("calls", used, 1000, 1000 - used, "calls"),)
    return Snapshot(monitor, "cloudlayer", T0 + timedelta(minutes=minutes), period, meters)


def test_a_run_reads_every_monitor_by_key_and_writes_in_batches(store: DynamoStore, counter: AwsCallCounter) -> None:
    monitors = [f"acme-{n:03}" for n in range(120)]
    snapshots = [reading(m, 0, 100) for m in monitors]
    counter.take()

    store.put_snapshots(snapshots, {s.monitor: window.encode(window.roll(s, [])) for s in snapshots})
    records = store.load(monitors)

    # 240 items in batches of 25; 240 keys (a state and a window each) in batches of 100.
    assert counter.take() == {("dynamodb", "BatchWriteItem"): 10, ("dynamodb", "BatchGetItem"): 3}
    assert set(records) == set(monitors)
    for snapshot in snapshots:
        record = records[snapshot.monitor]
        assert record.states == {}
        assert record.window == window.encode(window.roll(snapshot, []))


def test_the_window_rolls_with_each_run_and_holds_failures(store: DynamoStore) -> None:
    history: list[Snapshot] = []
    for n, used in enumerate([100, 140, None, 220]):
        checked_at = T0 + timedelta(minutes=15 * n)
        snapshot = (
            Snapshot.failed("acme", "cloudlayer", checked_at, ErrorKind.UNAVAILABLE, "acme: no answer")
            if used is None
            else reading("acme", 15 * n, used)
        )
        store.put_snapshots([snapshot], {"acme": window.encode(window.roll(snapshot, history))})
        stored = store.load(["acme"])["acme"].window
        assert stored is not None
        history = window.decode(stored, "acme")

    assert [r.checked_at for r in history] == [T0 + timedelta(minutes=m) for m in (45, 30, 15, 0)]
    assert [r.error.kind if r.error else None for r in history] == [None, ErrorKind.UNAVAILABLE, None, None]
    assert [r.meters[0].used for r in history if r.ok] == [220, 140, 100]
    assert len(store.recent_snapshots("acme")) == 4  # every snapshot is kept in full beside it


def test_a_monitor_without_a_window_has_no_history_to_read_by_key(store: DynamoStore) -> None:
    store.put_snapshots([reading("acme", 0, 100)], {})

    record = store.load(["acme"])["acme"]

    assert record.window is None  # the check reads the snapshots instead
    assert [s.meters[0].used for s in store.recent_snapshots("acme")] == [100]


def test_a_sent_message_is_kept_as_long_as_the_readings(stack: LocalStack) -> None:
    """history and report show every alert beside its readings: a sent message expires with them."""
    store = DynamoStore(stack.aws.client("dynamodb"), stack.outputs["TableName"], retention_days=400)
    at = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    message = Message("[WARNING] kept: calls at 82%", "body", "sms", "warning", "kept", "cloudlayer", "alert")
    queued = QueuedMessage.for_decision("kept", "calls", 1, at, message)
    store.queue(queued)
    store.record_channel("kept", queued.key, "topic", at, "SNS mid-1")
    item = stack.aws.client("dynamodb").get_item(
        TableName=stack.outputs["TableName"], Key={"pk": {"S": "MON#kept"}, "sk": {"S": queued.key}}
    )["Item"]
    assert item["sent#topic"] == {"S": "2026-11-24T01:00:00Z SNS mid-1"}
    assert int(item["expires_at"]["N"]) == int((at + timedelta(days=400)).timestamp())


def test_a_malformed_stored_silence_is_left_out_with_a_log_line(
    store: DynamoStore, caplog: pytest.LogCaptureFixture
) -> None:
    from quotawatch.core.silences import Silence

    now = datetime.now(UTC).replace(microsecond=0)  # stored to the second
    good = Silence("s1", "cloudlayer-*", "*", now, now + timedelta(hours=2), "me", "deploy", now)
    assert store.put_silence(good)
    for sk, stored in (("SIL#bad", '{"id": "bad", "monitor": 7}'), ("SIL#junk", "not json")):
        item = {"pk": {"S": "SILENCES"}, "sk": {"S": sk}, "silence": {"S": stored}}
        store._client.put_item(TableName=store.table_name, Item=item)
    with caplog.at_level("WARNING"):
        assert store.silences() == [good]
    logged = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith("silence SIL#bad cannot be read (Expected `str`, got `int` - at `$.monitor`)") for m in logged
    )
    assert any(m.startswith("silence SIL#junk cannot be read (") for m in logged)
