"""DynamoStore's batch calls when DynamoDB leaves part of a batch unprocessed (throttling).

The embedded AWS never throttles, so a small stand-in client plays DynamoDB's part here.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from quotawatch.adapters.store import DynamoStore


class Throttling:
    """Leaves the last item or key of each request unprocessed, `times` times in all."""

    def __init__(self, times: int, stubborn: bool = False) -> None:
        self.times = times
        self.stubborn = stubborn  # leaves everything unprocessed, always
        self.written: list[dict[str, Any]] = []
        self.calls = 0

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls += 1
        [(table, requests)] = RequestItems.items()
        if self.stubborn:
            return {"UnprocessedItems": RequestItems}
        if self.times and len(requests) > 1:
            self.times -= 1
            self.written += [r["PutRequest"]["Item"] for r in requests[:-1]]
            return {"UnprocessedItems": {table: requests[-1:]}}
        self.written += [r["PutRequest"]["Item"] for r in requests]
        return {"UnprocessedItems": {}}

    def put_item(self, TableName: str, Item: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's names
        self.calls += 1
        if self.stubborn:
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "throttled"}}
            raise ClientError(error, "PutItem")  # type: ignore[arg-type]
        self.written.append(Item)
        return {}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls += 1
        [(table, request)] = RequestItems.items()
        keys = request["Keys"]
        if self.times and len(keys) > 1:
            self.times -= 1
            answered, left = keys[:-1], {table: {**request, "Keys": keys[-1:]}}
        else:
            answered, left = keys, {}
        items = [{**key, "readings": {"S": f"window of {key['pk']['S']}"}} for key in answered]
        return {"Responses": {table: items}, "UnprocessedKeys": left}


def test_unprocessed_items_are_written_again() -> None:
    client = Throttling(times=1)
    store = DynamoStore(client, "quotawatch")

    store.put_snapshots([], {f"m{n}": f"window {n}".encode() for n in range(3)})

    assert sorted(item["pk"]["S"] for item in client.written) == ["MON#m0", "MON#m1", "MON#m2"]
    assert client.calls == 2  # the batch, then the item it left


def test_unprocessed_keys_are_asked_for_again() -> None:
    client = Throttling(times=1)
    store = DynamoStore(client, "quotawatch")

    records = store.load(["a", "b"])

    assert {m: r.window for m, r in records.items()} == {"a": "window of MON#a", "b": "window of MON#b"}
    assert client.calls == 2


def test_a_batch_that_stays_unprocessed_is_tried_item_by_item_then_reported() -> None:
    client = Throttling(times=0, stubborn=True)
    store = DynamoStore(client, "quotawatch")

    failed = store.put_snapshots([], {"a": b"window a", "b": b"window b"})

    assert failed == {"a", "b"}  # the caller reports these monitors; the run goes on
    assert client.calls == 5 + 2  # five batch attempts, then one write per item
    assert client.written == []
