"""The `mute`, `unmute` and `silences` subcommands of `quotawatch`, added to the layer's
command line by quotawatch_view/cli.py.

They act on the table of a stack (table.py: `--stack NAME`, or the local stack of `make
up`): a silence is an item there (adapters/store.py), with its pattern, its end, its author
(the caller's AWS identity, from STS) and its reason. The check run reads them; what they
hold is in quotawatch/core/silences.py.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from quotawatch.core.self_messages import SELF_MONITOR
from quotawatch.core.silences import BadSilence, Recurrence, Silence, split_pattern
from quotawatch_view import times
from quotawatch_view.errors import ViewError
from quotawatch_view.table import Table, describe_failure, open_table

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def register(commands: Any) -> None:
    mute = commands.add_parser(
        "mute",
        help="silence a monitor's alerts (or some of its signals) for a while, or in a weekly window",
        description="States still change and are recorded; only the messages are held. "
        "When the silence ends on a signal still raised, one message says so.",
    )
    mute.add_argument("pattern", metavar="MONITOR[:SIGNAL]", help="e.g. imagerouter, imagerouter:key:*, '*:check'")
    mute.add_argument("--for", dest="duration", help="how long: 3d, 12h, 2w, 90m")
    mute.add_argument("--from", dest="start", help="when it begins, e.g. 2026-12-04T18:00+01:00 (default: now)")
    mute.add_argument("--every", help="a maintenance window that comes back: 'sat 22:00-sun 04:00', or '22:00-04:00'")
    mute.add_argument("--tz", default="UTC", help="the zone of --every's times, e.g. Europe/Berlin (default UTC)")
    mute.add_argument("--reason", required=True, help="why, for the others who see it")
    _stack(mute)
    mute.set_defaults(silencing=_mute)

    unmute = commands.add_parser("unmute", help="end a silence now")
    unmute.add_argument("id", help="the silence's id, as `quotawatch silences` lists it")
    _stack(unmute)
    unmute.set_defaults(silencing=_unmute)

    listing = commands.add_parser("silences", help="the silences in force, and those to come")
    listing.add_argument("--all", action="store_true", help="also those that ended in the last 30 days")
    listing.add_argument("--json", action="store_true", help="print them as JSON (times in UTC)")
    listing.add_argument("--tz", help="show times in this zone (default: this machine's)")
    _stack(listing)
    listing.set_defaults(silencing=_list)


def _stack(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", help="a deployed stack's name (default: the local stack of `make up`)")


def run(args: argparse.Namespace, out: TextIO) -> int | None:
    command = getattr(args, "silencing", None)
    if command is None:
        return None
    try:
        code: int = command(args, out, datetime.now(UTC).replace(microsecond=0))
        return code
    except (ViewError, BadSilence) as exc:
        print(f"quotawatch {args.command}: {exc}", file=sys.stderr)
    except (ClientError, BotoCoreError) as exc:
        print(f"quotawatch {args.command}: the table refused: {describe_failure(exc)}", file=sys.stderr)
    return 1


def new_silence(args: argparse.Namespace, author: str, now: datetime) -> Silence:
    """The silence `quotawatch mute` asks for (checked before anything is stored)."""
    monitor, signal = split_pattern(args.pattern)
    if monitor == SELF_MONITOR:
        raise BadSilence(f"alerts about {SELF_MONITOR} itself are never silenced")
    if not args.reason.strip():
        raise BadSilence("--reason: say why, for the others who see it")
    every = Recurrence.parse(args.every, args.tz) if args.every else None
    if args.duration is None and every is None:
        raise BadSilence("say how long (--for 3d) or when it comes back (--every 'sat 22:00-sun 04:00')")
    start = starting(args.start) if getattr(args, "start", None) else now
    ends = start + duration(args.duration) if args.duration else None
    return Silence(
        id=f"s-{secrets.token_hex(3)}",
        monitor=monitor,
        signal=signal,
        starts_at=start,
        ends_at=ends,
        author=author,
        reason=args.reason.strip(),
        created_at=now,
        every=every,
    )


def starting(text: str) -> datetime:
    """`--from`: a date or time (UTC unless it says its offset)."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadSilence(f"--from '{text}' is not a date or time: use e.g. 2026-12-04T18:00+01:00") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def duration(text: str) -> timedelta:
    found = _DURATION.match(text)
    if not found or float(found.group(1)) <= 0:
        raise BadSilence(f"--for '{text}' is not a duration: use e.g. 3d, 12h, 2w or 90m")
    return timedelta(**{_UNITS[found.group(2).lower()]: float(found.group(1))})


def _mute(args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    new_silence(args, "", now)  # what it asks for is checked before the stack is looked for
    silence = mute(open_table(args.stack), args, now)
    out.write(muted_text(silence, times.Zone.named(None)))
    return 0


def mute(table: Table, args: argparse.Namespace, now: datetime) -> Silence:
    """Store the silence `args` asks for, by the caller's identity; the silence stored."""
    silence = new_silence(args, table.caller(), now)
    if not table.store.put_silence(silence):
        raise ViewError("a silence with that id already exists; run the command again")
    return silence


def muted_text(silence: Silence, zone: times.Zone) -> str:
    return (
        f"Silenced {silence.pattern} {_when(silence, zone)} ({silence.id}).\n"
        f"Its messages are held, not sent; `quotawatch unmute {silence.id}` ends it.\n"
    )


def _unmute(args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    table = open_table(args.stack)
    found = {s.id: s for s in table.store.silences()}
    silence = found.get(args.id)
    if silence is None:
        raise ViewError(f"no silence '{args.id}' in {table.where} (see `quotawatch silences --all`)")
    if silence.until is not None and silence.until <= now:
        out.write(f"Silence {silence.id} ({silence.pattern}) had already ended.\n")
        return 0
    if not table.store.put_silence(replace(silence, ended_at=now), replace=True):
        raise ViewError(f"silence '{args.id}' expired meanwhile")
    out.write(f"Ended silence {silence.id} ({silence.pattern}); alerts about it are sent again from the next check.\n")
    return 0


def _list(args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    zone = times.Zone.named(args.tz)
    table = open_table(args.stack)
    shown = listed(table, now, everything=args.all)
    if args.json:
        out.write(json.dumps([s.to_dict() for s in shown], indent=2) + "\n")
        return 0
    out.write(silences_text(shown, now, zone, table.where))
    return 0


def listed(table: Table, now: datetime, everything: bool = False) -> list[Silence]:
    """The silences in force or to come (with `everything`, those that ended too), by end."""
    found = table.store.silences()
    if not everything:
        found = [s for s in found if s.until is None or s.until > now]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(found, key=lambda s: (s.until or far, s.id))


def silences_text(silences: list[Silence], now: datetime, zone: times.Zone, where: str) -> str:
    if not silences:
        return f"No silences in {where}: every alert is sent.\n"
    rows = [("ID", "SILENCES", "WHEN", "BY", "WHY")]
    for s in silences:
        state = "" if s.holds_until(now) is not None else " (not now)"
        if s.until is not None and s.until <= now:
            state = " (ended)"
        rows.append((s.id, s.pattern, _when(s, zone) + state, _who(s.author), s.reason))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"Silences in {where} ({zone.heading()}):"]
    lines += ["  " + "  ".join(f"{c:<{w}}" for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4] for r in rows]
    lines.append("Alerts about QuotaWatch itself are never silenced.")
    return "\n".join(lines) + "\n"


def _when(silence: Silence, zone: times.Zone) -> str:
    until = f"until {zone.moment(silence.until)}" if silence.until is not None else "until unmuted"
    if silence.starts_at > silence.created_at:
        until = f"from {zone.moment(silence.starts_at)} {until}"
    if silence.every is None:
        return until
    return f"every {silence.every.text()} {silence.every.zone}, {until}"


def _who(arn: str) -> str:
    """The short name of an identity: 'user/alice' of arn:aws:iam::123456789012:user/alice."""
    return arn.split(":", 5)[-1] if arn.startswith("arn:") else arn
