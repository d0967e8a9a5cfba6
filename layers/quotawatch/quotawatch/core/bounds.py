"""A snapshot small enough to store: one DynamoDB item, far below its 400 KB.

A provider's answer may be up to 1 MB and list any number of keys with names of any
length. `bounded` cuts what a snapshot carries to fixed caps, and says what it cut, so a
snapshot always fits in one item (its JSON stays under `MAX_JSON_BYTES`) and one
monitor's answer can never fail the batch that stores the others.

It only cuts: texts are already masked when it runs, and nothing here is needed for that.
"""

from __future__ import annotations

import json
from dataclasses import replace

from quotawatch.core.snapshot import CheckError, Condition, Meter, Severity, Snapshot

MAX_METERS = 50
MAX_CONDITIONS = 20
MAX_NAME = 80  # meter and condition names
MAX_UNIT = 20
MAX_MESSAGE = 300  # condition messages
MAX_ERROR = 500  # a check error's message
# A character can take up to 12 in the stored JSON ("\ud83d\ude00"); a text may spend at
# most this many times its character cap there, so odd text cannot blow the size.
_ESCAPED_PER_CHAR = 3
MAX_JSON_BYTES = 64 * 1024  # what `json.dumps(bounded(s).to_dict())` stays under

TRUNCATED = "snapshot_truncated"  # the condition that says what was not stored
_ELLIPSIS = "..."


def bounded(snapshot: Snapshot) -> Snapshot:
    """The snapshot cut to the caps above, with a condition saying how much was left out.

    A snapshot within the caps comes back unchanged (the same object).
    """
    meters = _meters(snapshot.meters[:MAX_METERS])
    dropped_meters = len(snapshot.meters) - len(meters)
    cut = dropped_meters > 0 or len(snapshot.conditions) > MAX_CONDITIONS
    kept = snapshot.conditions[: MAX_CONDITIONS - 1 if cut else MAX_CONDITIONS]  # the note takes the last place
    conditions = tuple(_condition(c) for c in kept)
    if cut:
        conditions += (_truncation_note(dropped_meters, len(snapshot.conditions) - len(kept)),)
    error = snapshot.error
    if error is not None:
        error = _error(error)
    if (
        meters == snapshot.meters
        and conditions == snapshot.conditions
        and error == snapshot.error
        and len(snapshot.monitor) <= MAX_NAME
        and len(snapshot.provider) <= MAX_NAME
    ):
        return snapshot
    return replace(
        snapshot,
        monitor=clip(snapshot.monitor, MAX_NAME),
        provider=clip(snapshot.provider, MAX_NAME),
        meters=meters,
        conditions=conditions,
        error=error,
    )


def fits(snapshot: Snapshot) -> bool:
    """Whether the snapshot's stored JSON is within MAX_JSON_BYTES."""
    return len(json.dumps(snapshot.to_dict(), separators=(",", ":")).encode()) < MAX_JSON_BYTES


def clip(text: str, max_chars: int) -> str:
    """At most `max_chars` characters, and at most 3 times that once escaped in JSON; a cut ends in '...'."""
    budget = max_chars * _ESCAPED_PER_CHAR
    if len(text) <= max_chars and _escaped_length(text) <= budget:
        return text
    room, spent = max_chars - len(_ELLIPSIS), len(_ELLIPSIS)
    kept: list[str] = []
    for ch in text[:room]:
        spent += _escaped_length(ch)
        if spent > budget:
            break
        kept.append(ch)
    return "".join(kept) + _ELLIPSIS


def _escaped_length(text: str) -> int:
    return len(json.dumps(text)) - 2


def _meters(meters: tuple[Meter, ...]) -> tuple[Meter, ...]:
    """Each meter with its name and unit cut; names cut to the same text get a number.

    Two meters must not come to share a signal because of the cut. Names the provider
    itself repeated stay repeated, long or short: a repeat gets its first cut again.
    """
    taken = {m.name for m in meters if len(m.name) <= MAX_NAME and clip(m.name, MAX_NAME) == m.name}
    cuts: dict[str, str] = {}  # a cut name by the provider's
    result: list[Meter] = []
    for meter in meters:
        name, unit = cuts.get(meter.name) or clip(meter.name, MAX_NAME), clip(meter.unit, MAX_UNIT)
        if name != meter.name and meter.name not in cuts:
            n = 1
            while name in taken:
                n += 1
                suffix = f" #{n}"
                name = clip(meter.name, MAX_NAME - len(suffix)) + suffix
            taken.add(name)
            cuts[meter.name] = name
        result.append(meter if name == meter.name and unit == meter.unit else replace(meter, name=name, unit=unit))
    return tuple(result)


def _condition(condition: Condition) -> Condition:
    name, message = clip(condition.name, MAX_NAME), clip(condition.message, MAX_MESSAGE)
    if name == condition.name and message == condition.message:
        return condition
    return replace(condition, name=name, message=message)


def _error(error: CheckError) -> CheckError:
    message = clip(error.message, MAX_ERROR)
    return error if message == error.message else replace(error, message=message)


def _truncation_note(meters: int, conditions: int) -> Condition:
    counts = ((meters, "meter"), (conditions, "condition"))
    parts = [f"{n} more {what}{'s' if n != 1 else ''}" for n, what in counts if n]
    return Condition(TRUNCATED, Severity.INFO, " and ".join(parts) + " not stored: the answer listed too many")
