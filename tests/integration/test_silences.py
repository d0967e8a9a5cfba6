"""Silences on the local stack, as a person uses them: `quotawatch mute`, `silences` and
`unmute` against the table, the real check and notify functions behind the stream, and the
topic. A warning and a critical alert are decided and stored as held, none is sent; when the
silence ends, one "still critical" message goes out, however often that tick runs."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from quotawatch_view import table as view_table
from quotawatch_view.cli import main

from quotawatch.core.snapshot import format_time
from quotawatch_local.fakes import Reply
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN, fake_cloudlayer
from quotawatch_local.inbox import Inbox
from quotawatch_local.local_stack import LocalStack
from tests.integration.conftest import (
    CLOUDLAYER_KEY,
    Platform,
    cloudlayer_monitor,
    items,
    put_keys,
    queued,
    signal_states,
    write_monitors,
)

pytestmark = pytest.mark.integration

CALLS = (500, 820, 970, 975, 980)  # per hourly tick: ok, warning, critical, critical ...


# The story's ticks start at the next full hour: a silence may not end in the past.
BASE = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)


def hour(number: int) -> datetime:
    return BASE + timedelta(hours=number)


def at(number: int) -> dict[str, str]:
    return {"source": "schedule", "scheduled_time": str(format_time(hour(number)))}


def command(*argv: str) -> str:
    out = io.StringIO()
    assert main(list(argv), out) == 0
    return out.getvalue()


def test_a_silence_holds_a_critical_alert_and_its_end_is_told_once(
    stack: LocalStack, inbox: Inbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.save(tmp_path / ".quotawatch-local" / "stack.json")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(view_table, "SOURCE_ROOT", tmp_path / "elsewhere")  # never the repo's own `make up`
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    replies = iter(Reply(200, {**LIMIT_PLAN, "calls": calls}) for calls in CALLS)
    with fake_cloudlayer(CLOUDLAYER_KEY, lambda _call: next(replies)) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        start = str(format_time(hour(1)))
        said = command(
            "mute", "cloudlayer-prod:calls", "--from", start, "--for", "2h", "--reason", "migrating",
            "--monitors", str(monitors),
        )  # fmt: skip
        assert said.startswith("Silenced cloudlayer-prod:calls from ")
        [silence] = json.loads(command("silences", "--all", "--json"))
        assert silence["author"] == "arn:aws:sts::123456789012:user/moto"  # the caller, as STS says
        assert (silence["starts_at"], silence["ends_at"], silence["reason"]) == (
            start,
            format_time(hour(3)),
            "migrating",
        )
        with Platform(stack, monitors) as platform:
            runs = [platform.check(at(n)) for n in range(3)]
            held = [q for run in runs for q in queued(run)]
            assert [(q["severity"], q.get("held_by")) for q in held] == [
                ("warning", silence["id"]),
                ("critical", silence["id"]),
            ]
            assert inbox.take() == []  # decided and stored, not sent
            assert signal_states(stack, "cloudlayer-prod")["meter:calls"]["level"] == "critical"
            stored = items(stack, "cloudlayer-prod", "MSG#")
            assert [("held_by" in i, "sent_at" in i, "expires_at" in i) for i in stored] == [(True, False, True)] * 2

            released = platform.check(at(3))  # the silence ended at 03:00
            again = platform.check(at(3))  # the same tick, delivered again
            later = platform.check(at(4))

    assert [q["severity"] for q in queued(released)] == ["critical"]
    assert queued(again) == []
    assert queued(later) == []
    [still] = inbox.take()
    ended = hour(3)
    when = f"{ended:%b} {ended.day} {ended:%H:%M} UTC"
    assert still.subject == f"[CRITICAL] cloudlayer-prod: calls at 98% of limit (still, silence ended {when})"
    assert f"A silence held its alerts; it ended at {ended:%Y-%m-%d %H:%M} UTC." in still.body
    assert still.attributes["severity"] == "critical"

    since = f"{hour(-24):%Y-%m-%d}"
    shown = command("history", "cloudlayer-prod", "--monitors", str(monitors), "--since", since, "--tz", "UTC")
    assert shown.count(f"held by silence {silence['id']}, not sent") == 2


def test_unmute_ends_a_silence_now_and_says_so(
    stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.save(tmp_path / ".quotawatch-local" / "stack.json")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(view_table, "SOURCE_ROOT", tmp_path / "elsewhere")
    command(
        "mute", "imagerouter:key:*", "--every", "sat 22:00-sun 04:00", "--tz", "Europe/Berlin", "--reason", "upkeep",
        "--force",  # a monitor of a monitors file yet to be written
    )  # fmt: skip
    [silence] = json.loads(command("silences", "--json"))
    assert silence["every"] == {"span": "sat 22:00-sun 04:00", "tz": "Europe/Berlin"}
    listing = command("silences", "--tz", "UTC")
    assert "imagerouter:key:*" in listing
    assert "every sat 22:00-sun 04:00 Europe/Berlin, until unmuted" in listing

    assert command("unmute", silence["id"]).startswith(f"Ended silence {silence['id']} (imagerouter:key:*)")
    assert json.loads(command("silences", "--json")) == []
    [ended] = json.loads(command("silences", "--all", "--json"))
    assert ended["ended_at"] is not None
    assert main(["unmute", "s-nosuch"], io.StringIO()) == 1
