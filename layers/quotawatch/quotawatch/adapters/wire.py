"""A run's batch calls to DynamoDB, written and read by msgspec instead of botocore's shape walks.

botocore reads a JSON answer by walking the operation's output shape value by value in
Python: for the BatchGetItem of 50 monitors' STATE and WINDOW items that walk costs more
CPU than the rest of the call (a run of 1,000 monitors makes 20 of them). Yet DynamoDB's
wire JSON is already the shape botocore hands back, but for one thing: a binary value
("B", and each of a "BS") comes as base64 text, which botocore decodes to bytes. So the
answer is read here with msgspec (in C) and only the binary values are decoded, in the
places of the answer that hold attribute values; botocore parses the rest (what is left of
the body: consumed capacity, item collection metrics) as it always did, and still signs,
sends, retries and raises its errors. An answer that is not a success is left to botocore
whole.

No library reads DynamoDB's wire JSON without the shapes (boto3's TypeDeserializer takes
what botocore parsed, and turns it into Python values, which the store does not want), so
this is the one hand-written reader; tests/unit/test_store_wire.py checks it against
botocore's parser and TypeDeserializer on generated answers.

The request goes the same way: botocore's serializer walks every attribute value of the
25 items of a BatchWriteItem (about 1 ms a call, 80 calls a run of 1,000), where the
request's JSON is the parameters as they are, binary values in base64, which is how
msgspec writes bytes. So botocore is handed the same tables with one empty request each
to serialise (the table names stay: the endpoint rules read them), and the body is then
written here from the parameters the store passed.

All through botocore's event system, on one client's own events: `provide-client-params`
keeps the parameters in the call's context and hands botocore the empty ones,
`before-call` puts their JSON in the request before it is signed, and `before-parse` puts
the answer in `customized_response_dict`, which botocore merges into what it parsed.
"""

from __future__ import annotations

from base64 import b64decode
from typing import Any

import msgspec

_DECODE = msgspec.json.Decoder().decode
_ENCODE = msgspec.json.Encoder().encode
_OPERATIONS = ("BatchGetItem", "BatchWriteItem")
_HANDLER_ID = "quotawatch-wire"
_HELD = "quotawatch_wire_body"  # the call's own parameters as JSON, in botocore's context of the call


def batch_calls_fast(client: Any) -> None:
    """Write this client's BatchGetItem and BatchWriteItem requests and read their answers
    here (once per client: registering again adds nothing). A client without botocore's
    events (a test's stand-in) is left as is."""
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is None:
        return
    for operation in _OPERATIONS:
        for event, handler in (
            ("provide-client-params", _hold_params),
            ("before-call", _write_params),
            ("before-parse", _ANSWERS[operation]),
        ):
            events.register(f"{event}.dynamodb.{operation}", handler, unique_id=f"{_HANDLER_ID}-{event}-{operation}")


def _hold_params(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> dict[str, Any] | None:
    """What botocore serialises instead of the parameters: the same tables, each with one
    empty request (a client that validates parameters wants one; DynamoDB checks the real
    ones, as it does for the check function's client, which validates nothing)."""
    tables = params.get("RequestItems")
    if set(params) != {"RequestItems"} or not isinstance(tables, dict):
        return None  # not a call of the store's: botocore's way
    try:
        context[_HELD] = _ENCODE(params)
    except (TypeError, ValueError):  # a value msgspec cannot write: botocore's way
        return None
    if model.name == "BatchWriteItem":
        return {"RequestItems": {table: [{"PutRequest": {"Item": {}}}] for table in tables}}
    return {"RequestItems": {table: {"Keys": [{}]} for table in tables}}


def _write_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """The body of the request (botocore's `params` here is the request it serialised)."""
    body = context.pop(_HELD, None)
    if body is not None:
        params["body"] = body


def _read(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], reader: Any) -> None:
    if response_dict.get("status_code") != 200:
        return  # an error: botocore reads it and raises it
    body = response_dict.get("body")
    if not isinstance(body, bytes | bytearray) or not body:
        return
    try:
        data = _DECODE(body)
    except msgspec.DecodeError:
        return  # botocore says what is wrong with it
    if not isinstance(data, dict):
        return
    try:
        read = reader(data)
    except (KeyError, TypeError, AttributeError, ValueError):  # not DynamoDB's shape: botocore says how
        return
    customized_response_dict.update(read)
    response_dict["body"] = _ENCODE(data)  # what is left, small, for botocore


def _batch_get(data: dict[str, Any]) -> dict[str, Any]:
    read: dict[str, Any] = {}
    responses = data.pop("Responses", None)
    if responses is not None:
        read["Responses"] = {table: [_item(i) for i in items] for table, items in responses.items()}
    unprocessed = data.pop("UnprocessedKeys", None)
    if unprocessed is not None:
        read["UnprocessedKeys"] = {
            table: {**request, "Keys": [_item(k) for k in request["Keys"]]} if "Keys" in request else request
            for table, request in unprocessed.items()
        }
    return read


def _batch_write(data: dict[str, Any]) -> dict[str, Any]:
    unprocessed = data.pop("UnprocessedItems", None)
    if unprocessed is None:
        return {}
    return {
        "UnprocessedItems": {table: [_write_request(r) for r in requests] for table, requests in unprocessed.items()}
    }


def _write_request(request: dict[str, Any]) -> dict[str, Any]:
    read = dict(request)
    if "PutRequest" in read:
        read["PutRequest"] = {**read["PutRequest"], "Item": _item(read["PutRequest"]["Item"])}
    if "DeleteRequest" in read:
        read["DeleteRequest"] = {**read["DeleteRequest"], "Key": _item(read["DeleteRequest"]["Key"])}
    return read


def _item(item: dict[str, Any]) -> dict[str, Any]:
    """An item (attribute name to attribute value) as botocore gives it: binaries as bytes.
    Changed in place: it is this answer's own."""
    for value in item.values():
        _value(value)
    return item


def _value(value: dict[str, Any]) -> None:
    # An attribute value has one member; only these hold (or may hold) binary values.
    if "B" in value:
        value["B"] = b64decode(value["B"])
    elif "M" in value:
        for inner in value["M"].values():
            _value(inner)
    elif "L" in value:
        for inner in value["L"]:
            _value(inner)
    elif "BS" in value:
        value["BS"] = [b64decode(b) for b in value["BS"]]


def _on_batch_get(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    _read(response_dict, customized_response_dict, _batch_get)


def _on_batch_write(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    _read(response_dict, customized_response_dict, _batch_write)


_ANSWERS = {"BatchGetItem": _on_batch_get, "BatchWriteItem": _on_batch_write}
