"""A stored snapshot always fits one DynamoDB item, whatever the provider's answer listed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

from quotawatch.core.bounds import (
    MAX_CONDITIONS,
    MAX_ERROR,
    MAX_JSON_BYTES,
    MAX_MESSAGE,
    MAX_METERS,
    MAX_NAME,
    MAX_UNIT,
    TRUNCATED,
    bounded,
    clip,
    fits,
)
from quotawatch.core.snapshot import CheckError, Condition, ErrorKind, Meter, Period, Severity, Snapshot

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
DYNAMODB_ITEM_MAX = 400 * 1024
EMOJI = "\U0001f600"  # 12 characters once escaped in JSON


def stored_size(snapshot: Snapshot) -> int:
    """As the store writes it: compact JSON (ASCII, every other character escaped)."""
    return len(json.dumps(snapshot.to_dict(), separators=(",", ":")).encode())


def snap(meters: tuple[Meter, ...] = (), conditions: tuple[Condition, ...] = (), **kw: object) -> Snapshot:
    return Snapshot("cloudlayer-prod", "cloudlayer", NOW, meters=meters, conditions=conditions, **kw)  # type: ignore[arg-type]


def test_a_usual_snapshot_comes_back_as_it_is() -> None:
    s = snap(
        (Meter("calls", 842, 1000, 158, "calls"), Meter("credit", None, None, 4500, "credits")),
        (Condition("subscription_inactive", Severity.CRITICAL, "the subscription is not active"),),
        period=Period(NOW, None),
    )
    assert bounded(s) is s
    failed = Snapshot.failed("m", "tornado", NOW, ErrorKind.AUTH, "m: the key was rejected")
    assert bounded(failed) is failed


def test_too_many_meters_and_conditions_are_cut_and_counted() -> None:
    meters = tuple(Meter(f"key:k{i}", i, 100, 100 - i, "USD") for i in range(MAX_METERS + 7))
    conditions = tuple(Condition(f"key_expiring:k{i}", Severity.WARNING, "expires") for i in range(MAX_CONDITIONS + 1))
    b = bounded(snap(meters, conditions))

    assert b.meters == meters[:MAX_METERS]
    assert len(b.conditions) == MAX_CONDITIONS
    assert b.conditions[:-1] == conditions[: MAX_CONDITIONS - 1]
    assert b.conditions[-1] == Condition(
        TRUNCATED, Severity.INFO, "7 more meters and 2 more conditions not stored: the answer listed too many"
    )


def test_long_texts_are_cut_with_an_ellipsis() -> None:
    b = bounded(
        snap(
            (Meter("key:" + "n" * 500, 1, 2, 1, "u" * 100),),
            (Condition("c" * 200, Severity.WARNING, "m" * 5000),),
            error=CheckError(ErrorKind.BAD_RESPONSE, "e" * 10_000),
        )
    )
    assert b.meters[0].name == "key:" + "n" * (MAX_NAME - 7) + "..."
    assert len(b.meters[0].unit) == MAX_UNIT
    assert len(b.conditions[0].name) == MAX_NAME
    assert len(b.conditions[0].message) == MAX_MESSAGE
    assert b.error is not None
    assert len(b.error.message) == MAX_ERROR
    assert b.error.message.endswith("...")


def test_names_cut_to_the_same_text_stay_apart() -> None:
    meters = tuple(Meter("key:" + "x" * 200 + str(i), i, 10, 10 - i, "USD") for i in range(3))
    names = [m.name for m in bounded(snap(meters)).meters]
    assert len(set(names)) == 3
    assert all(len(n) <= MAX_NAME for n in names)
    assert names[1].endswith(" #2")


def test_a_name_the_provider_repeated_is_cut_the_same_each_time() -> None:
    long, other = "key:" + "x" * 200, "key:" + "x" * 200 + "y"
    names = [m.name for m in bounded(snap(tuple(Meter(n, 1, 10, 9, "") for n in (long, other, long)))).meters]
    assert names[0] == names[2] != names[1]
    assert names[1].endswith(" #2")


def test_clip_counts_escaped_characters_too() -> None:
    assert clip("short", 10) == "short"
    assert len(clip(EMOJI * 80, 80)) < 80  # 80 emoji would be 960 characters of JSON
    assert len(json.dumps(clip(EMOJI * 80, 80))) <= 3 * 80 + 2
    assert clip("\x00" * 5, 10) == "\x00" * 5


def test_the_worst_answer_still_fits_one_item_far_below_its_limit() -> None:
    name = EMOJI * 10_000
    worst = snap(
        tuple(Meter(name + str(i), -1.2345678901234567e-300, 1.7976931348623157e308, None, name) for i in range(5000)),
        tuple(Condition(name + str(i), Severity.CRITICAL, EMOJI * 100_000) for i in range(5000)),
        period=Period(NOW, NOW),
        error=CheckError(ErrorKind.BAD_RESPONSE, name * 10),
    )
    b = bounded(worst)
    assert fits(b)
    assert stored_size(b) < MAX_JSON_BYTES < DYNAMODB_ITEM_MAX


texts = st.text(max_size=400) | st.text(
    alphabet=st.sampled_from([EMOJI, "\x00", "\u2028", "\ud800", "é"]), max_size=400
)
figures = st.none() | st.floats() | st.integers(min_value=-(2**64), max_value=2**64).map(float)
meters = st.builds(Meter, texts, figures, figures, figures, texts)
conditions = st.builds(Condition, texts, st.sampled_from(list(Severity)), texts)


@settings(max_examples=60, deadline=None)
# Found failing: a long name the provider repeated came back as two ("... #2"), unlike a
# repeated short one. Each is one name: it is cut the same way both times.
@example(meter_list=[Meter(EMOJI * 41, None, None, None, "")] * 2, condition_list=[], error=None)
@example(meter_list=[Meter("", None, None, None, "")] * 2, condition_list=[], error=None)
@example(
    meter_list=[Meter("m" * 81, 1, None, None, ""), Meter("m" * 81 + "x", 2, None, None, "")] * 2,
    condition_list=[],
    error=None,
)
@given(
    meter_list=st.lists(meters, max_size=120),
    condition_list=st.lists(conditions, max_size=40),
    error=st.none() | st.builds(CheckError, st.sampled_from(list(ErrorKind)), texts),
)
def test_any_snapshot_bounded_fits(
    meter_list: list[Meter], condition_list: list[Condition], error: CheckError | None
) -> None:
    s = snap(tuple(meter_list), tuple(condition_list), error=error)
    b = bounded(s)
    assert stored_size(b) < MAX_JSON_BYTES
    assert len(b.meters) <= MAX_METERS
    assert len(b.conditions) <= MAX_CONDITIONS
    assert len({m.name for m in b.meters}) == len({m.name for m in s.meters[:MAX_METERS]})
    assert bounded(b) == b  # cutting twice cuts nothing more
    # It only cuts: what is kept is a prefix of what was there, figures untouched.
    for kept, original in zip(b.meters, s.meters, strict=False):
        assert (kept.used, kept.limit, kept.remaining) == (original.used, original.limit, original.remaining) or (
            kept.used != kept.used  # nan
        )
