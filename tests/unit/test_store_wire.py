"""The batch calls' requests and answers written and read by msgspec (adapters/wire.py),
checked against botocore's own serializer and parser, and boto3's TypeDeserializer.

A real botocore client runs each call through its whole chain (events, serializer,
signing, parser); only the sending is replaced: a `before-send` handler keeps the request
and answers with a body written as DynamoDB writes one.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.adapters.wire import batch_calls_fast

TABLE = "quotawatch"

# Attribute values as botocore takes and gives them (binaries as bytes), any depth.
_names = st.text(min_size=1, max_size=8)
_numbers = st.integers(-(10**12), 10**12).map(str)
_scalars = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=12)),
    st.builds(lambda n: {"N": n}, _numbers),
    st.builds(lambda b: {"B": b}, st.binary(max_size=40)),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(lambda s: {"SS": s}, st.lists(st.text(max_size=6), min_size=1, max_size=3, unique=True)),
    st.builds(lambda s: {"NS": s}, st.lists(_numbers, min_size=1, max_size=3, unique=True)),
    st.builds(lambda s: {"BS": s}, st.lists(st.binary(max_size=12), min_size=1, max_size=3, unique=True)),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.builds(lambda m: {"M": m}, st.dictionaries(_names, inner, max_size=3)),
        st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
    ),
    max_leaves=8,
)
_items = st.dictionaries(_names, _values, min_size=1, max_size=4)


def _wire(value: Any) -> Any:
    """What DynamoDB writes for `value` (as botocore gives it): binaries in base64."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


class Answering:
    """Stands in for the network: keeps each request's body, answers with `answer`."""

    def __init__(self, answer: bytes, status: int = 200) -> None:
        self.answer, self.status = answer, status
        self.bodies: list[bytes] = []

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        self.bodies.append(request.body)
        headers = HTTPHeaders()
        headers["x-amzn-requestid"] = "r"
        return AWSResponse(request.url, self.status, headers, _Raw(self.answer))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def _client(answering: Answering, validate: bool = False, fast: bool = True) -> Any:
    """A client (made once for each kind: making one takes a tenth of a second) that this
    `answering` answers."""
    client = _made(validate, fast)
    client.meta.events.unregister("before-send.dynamodb.*", unique_id="answering")
    client.meta.events.register("before-send.dynamodb.*", answering, unique_id="answering")
    return client


@cache
def _made(validate: bool, fast: bool) -> Any:
    client = boto3.client(
        "dynamodb",
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(parameter_validation=validate, retries={"max_attempts": 1}),
    )
    if fast:
        batch_calls_fast(client)
    return client


def _botocore_parsed(operation: str, body: bytes) -> dict[str, Any]:
    model = _made(False, False).meta.service_model
    response = {"status_code": 200, "headers": {"x-amzn-requestid": "r"}, "body": body}
    parsed: dict[str, Any] = create_parser("json").parse(response, model.operation_model(operation).output_shape)
    return parsed


def _deserialised(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    deserializer = TypeDeserializer()
    return [{name: deserializer.deserialize(value) for name, value in item.items()} for item in items]


@settings(max_examples=60, deadline=None)
@given(st.lists(_items, max_size=4), st.lists(_items, max_size=2))
def test_a_batch_get_answer_reads_as_botocore_reads_it(items: list[dict[str, Any]], left: list[dict[str, Any]]) -> None:
    answer: dict[str, Any] = {"Responses": {TABLE: _wire(items)}, "UnprocessedKeys": {}}
    if left:
        answer["UnprocessedKeys"] = {TABLE: {"Keys": _wire(left), "ConsistentRead": True}}
    answer["ConsumedCapacity"] = [{"TableName": TABLE, "CapacityUnits": 1.5}]
    body = json.dumps(answer).encode()
    client = _client(Answering(body))

    got = client.batch_get_item(RequestItems={TABLE: {"Keys": [{"pk": {"S": "a"}}], "ConsistentRead": True}})

    expected = _botocore_parsed("BatchGetItem", body)
    got.pop("ResponseMetadata"), expected.pop("ResponseMetadata")
    assert got == expected
    assert _deserialised(got["Responses"][TABLE]) == _deserialised(items)
    assert _deserialised(got["UnprocessedKeys"].get(TABLE, {}).get("Keys", [])) == _deserialised(left)


@settings(max_examples=60, deadline=None)
@given(st.lists(_items, max_size=3), st.lists(_items, max_size=2))
def test_a_batch_write_answer_reads_as_botocore_reads_it(
    puts: list[dict[str, Any]], deletes: list[dict[str, Any]]
) -> None:
    requests = [{"PutRequest": {"Item": i}} for i in puts] + [{"DeleteRequest": {"Key": k}} for k in deletes]
    answer = {"UnprocessedItems": {TABLE: _wire(requests)} if requests else {}}
    body = json.dumps(answer).encode()
    client = _client(Answering(body))

    got = client.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]})

    expected = _botocore_parsed("BatchWriteItem", body)
    got.pop("ResponseMetadata"), expected.pop("ResponseMetadata")
    assert got == expected
    assert got["UnprocessedItems"].get(TABLE, []) == requests


@settings(max_examples=60, deadline=None)
@given(st.lists(_items, min_size=1, max_size=4), st.booleans())
def test_a_batch_write_request_is_what_botocore_writes(items: list[dict[str, Any]], validate: bool) -> None:
    answering = Answering(b'{"UnprocessedItems":{}}')
    params = {"RequestItems": {TABLE: [{"PutRequest": {"Item": item}} for item in items]}}
    client = _client(answering, validate=validate)

    client.batch_write_item(**params)

    model = client.meta.service_model.operation_model("BatchWriteItem")
    expected = create_serializer("json").serialize_to_request(params, model)["body"]
    assert json.loads(answering.bodies[0]) == json.loads(expected)


@settings(max_examples=30, deadline=None)
@given(st.lists(_items, min_size=1, max_size=4))
def test_a_batch_get_request_is_what_botocore_writes(keys: list[dict[str, Any]]) -> None:
    answering = Answering(b'{"Responses":{},"UnprocessedKeys":{}}')
    params = {"RequestItems": {TABLE: {"Keys": keys, "ConsistentRead": True}}}
    client = _client(answering)

    client.batch_get_item(**params)

    model = client.meta.service_model.operation_model("BatchGetItem")
    expected = create_serializer("json").serialize_to_request(params, model)["body"]
    assert json.loads(answering.bodies[0]) == json.loads(expected)


def test_an_error_is_raised_by_botocore_as_before() -> None:
    error = b'{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no table"}'
    for fast in (True, False):
        client = _client(Answering(error, status=400), fast=fast)
        with pytest.raises(ClientError) as raised:
            client.batch_get_item(RequestItems={TABLE: {"Keys": [{"pk": {"S": "a"}}]}})
        assert raised.value.response["Error"] == {"Code": "ResourceNotFoundException", "Message": "no table"}


def test_other_calls_and_parameters_go_botocore_s_way() -> None:
    answering = Answering(b'{"UnprocessedItems":{}}')
    client = _client(answering)

    client.batch_write_item(
        RequestItems={TABLE: [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]}, ReturnConsumedCapacity="TOTAL"
    )

    assert json.loads(answering.bodies[0])["ReturnConsumedCapacity"] == "TOTAL"  # botocore wrote it, whole


def test_registering_twice_reads_once() -> None:
    items = [{"pk": {"S": "a"}, "w": {"B": b"\x00\x01"}}]
    answering = Answering(json.dumps({"Responses": {TABLE: _wire(items)}}).encode())
    client = _client(answering)
    batch_calls_fast(client)

    got = client.batch_get_item(RequestItems={TABLE: {"Keys": [{"pk": {"S": "a"}}]}})

    assert got["Responses"][TABLE] == items
