"""The snapshot item's JSON is json's, whichever writer wrote it: the same text, but for
the exponent of a float past 1e16 or under 1e-4 (1e16 against json's 1e+16), which reads
back as the same number."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from quotawatch.adapters.store import _snapshot_text
from quotawatch.core.snapshot import Condition, ErrorKind, Meter, Period, Severity, Snapshot

AT = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
PERIOD = Period(datetime(2026, 11, 1, tzinfo=UTC), None)


@pytest.mark.parametrize(
    "snapshot",
    [
        Snapshot("acme", "cloudlayer", AT, PERIOD, (Meter("calls", 842, 1000, 158, "calls"),)),
        Snapshot("acme", "cloudlayer", AT, None, (Meter("credit", None, None, 12.75, "USD"),)),
        Snapshot("acme", "p", AT, None, (Meter("calls", 0.1, 2**60, None, "calls"),)),
        Snapshot("acme", "p", AT, None, (Meter("größe", 1, 2, 1, "€"),)),  # not ASCII: json escapes it
        Snapshot("acme", "p", AT, None, (Meter("calls", float("nan"), float("inf"), None, "calls"),)),
        Snapshot("acme", "p", AT, conditions=(Condition("plan_inactive", Severity.WARNING, 'the "Pro" plan'),)),
        Snapshot.failed("acme", "p", AT, ErrorKind.UNAVAILABLE, "acme: 503\nretry"),
    ],
)
def test_the_snapshot_text_is_what_json_writes(snapshot: Snapshot) -> None:
    assert _snapshot_text(snapshot) == json.dumps(snapshot.to_dict(), separators=(",", ":"))


def test_a_float_with_an_exponent_reads_back_as_the_same_number() -> None:
    snapshot = Snapshot("acme", "p", AT, None, (Meter("bytes", 1.5e17, 2.5e-5, None, "B"),))

    assert json.loads(_snapshot_text(snapshot)) == snapshot.to_dict()
    assert Snapshot.from_dict(json.loads(_snapshot_text(snapshot))) == snapshot
