"""The event pattern matcher of the local platform (Lambda event filtering, EventBridge rules)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from quotawatch_local.event_filter import UnsupportedPattern, filter_criteria_patterns, matches, matches_any

RECORD = {
    "eventName": "INSERT",
    "eventSource": "aws:dynamodb",
    "dynamodb": {
        "Keys": {"pk": {"S": "MON#cloudlayer-prod"}, "sk": {"S": "MSG#2026-11-24T01:00:00Z#meter:calls#3"}},
        "SizeBytes": 512,
    },
    "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:a", "arn:aws:cloudwatch:us-east-1:1:alarm:b"],
    "flag": True,
    "nothing": None,
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({}, True),
        ({"eventName": ["INSERT"]}, True),
        ({"eventName": ["MODIFY", "INSERT"]}, True),  # any of the values
        ({"eventName": ["MODIFY"]}, False),
        ({"eventName": ["insert"]}, False),  # exact, case and all
        ({"eventName": [{"equals-ignore-case": "insert"}]}, True),
        ({"dynamodb": {"Keys": {"sk": {"S": [{"prefix": "MSG#"}]}}}}, True),
        ({"dynamodb": {"Keys": {"sk": {"S": [{"prefix": "SNAP#"}]}}}}, False),
        ({"dynamodb": {"Keys": {"sk": {"S": [{"suffix": "#3"}]}}}}, True),
        ({"eventName": ["INSERT"], "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "SNAP#"}]}}}}, False),  # AND
        ({"eventName": [{"anything-but": "REMOVE"}]}, True),
        ({"eventName": [{"anything-but": ["INSERT", "MODIFY"]}]}, False),
        ({"eventName": [{"anything-but": {"prefix": "INS"}}]}, False),
        ({"dynamodb": {"NewImage": [{"exists": False}]}}, True),
        ({"dynamodb": {"Keys": [{"exists": True}]}}, True),
        ({"missing": [{"exists": True}]}, False),
        ({"missing": ["INSERT"]}, False),
        ({"dynamodb": {"missing": {"S": ["x"]}}}, False),
        ({"dynamodb": {"SizeBytes": [{"numeric": [">", 100, "<=", 512]}]}}, True),
        ({"dynamodb": {"SizeBytes": [{"numeric": ["<", 100]}]}}, False),
        ({"dynamodb": {"SizeBytes": ["512"]}}, False),  # the number 512 is not the text "512"
        ({"dynamodb": {"SizeBytes": [512]}}, True),
        ({"flag": [True]}, True),
        ({"flag": [1]}, False),
        ({"nothing": [None]}, True),
        ({"resources": ["arn:aws:cloudwatch:us-east-1:1:alarm:b"]}, True),  # any element of a list
        ({"resources": ["arn:aws:cloudwatch:us-east-1:1:alarm:c"]}, False),
        ({"$or": [{"eventName": ["MODIFY"]}, {"eventSource": ["aws:dynamodb"]}]}, True),
        ({"$or": [{"eventName": ["MODIFY"]}, {"eventSource": ["aws:sqs"]}]}, False),
    ],
)
def test_patterns(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, RECORD) is expected
    assert matches(json.dumps(pattern), RECORD) is expected  # as AWS stores it: JSON text


def test_filters_are_ored_and_no_filter_lets_everything_through() -> None:
    assert matches_any([], RECORD)
    assert matches_any(['{"eventName": ["MODIFY"]}', '{"eventName": ["INSERT"]}'], RECORD)
    assert not matches_any(['{"eventName": ["MODIFY"]}'], RECORD)


def test_filter_criteria_as_the_mapping_holds_them() -> None:
    criteria = {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]}
    assert filter_criteria_patterns(criteria) == ['{"eventName": ["INSERT"]}']
    assert filter_criteria_patterns(None) == []


@pytest.mark.parametrize(
    "pattern",
    [
        {"eventName": "INSERT"},  # a leaf must be a list
        {"eventName": [{"wildcard": "IN*"}]},  # not implemented here: say so
        {"eventName": [{"prefix": "I", "suffix": "T"}]},
        {"dynamodb": {"SizeBytes": [{"numeric": [">"]}]}},
    ],
)
def test_what_the_matcher_does_not_know_is_an_error_not_a_silent_miss(pattern: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedPattern):
        matches(pattern, RECORD)
