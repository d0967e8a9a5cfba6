"""The `mute`, `unmute` and `silences` subcommands of `quotawatch`, added to the layer's
command line by quotawatch_view/cli.py.

They act on the table of a stack (table.py: `--stack NAME`, or the local stack of `make
up`): a silence is an item there (adapters/store.py), with its pattern, its end, its author
(the caller's AWS identity, from STS) and its reason. The check run reads them; what they
hold is in quotawatch/core/silences.py.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import secrets
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from quotawatch.core.self_messages import SELF_MONITOR
from quotawatch.core.silences import BadSilence, Recurrence, Silence, split_pattern
from quotawatch.core.snapshot import format_time
from quotawatch_view import times
from quotawatch_view.commands import monitors_of
from quotawatch_view.errors import ViewError
from quotawatch_view.table import Table, describe_failure, open_table

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# A silence longer than this is a monitor to disable (`enabled: false`), not to mute.
LONGEST = timedelta(days=3660)
DEFAULT_REASON = "no reason given"


def register(commands: Any) -> None:
    mute = commands.add_parser(
        "mute",
        help="silence a monitor's alerts (or some of its signals) for a while, or in a weekly window",
        description="States still change and are recorded; only the messages are held. "
        "When the silence ends on a signal still raised, one message says so.",
    )
    mute.add_argument("pattern", metavar="MONITOR[:SIGNAL]", help="e.g. imagerouter, imagerouter:key:*, '*:check'")
    mute.add_argument("--for", dest="duration", help="how long: 3d, 12h, 2w, 90m")
    mute.add_argument("--until", help="when it ends, e.g. 2026-12-11T09:00+01:00 (instead of --for)")
    mute.add_argument("--from", dest="start", help="when it begins, e.g. 2026-12-04T18:00+01:00 (default: now)")
    mute.add_argument("--every", help="a maintenance window that comes back: 'sat 22:00-sun 04:00', or '22:00-04:00'")
    mute.add_argument("--tz", default="UTC", help="the zone of --every's times, e.g. Europe/Berlin (default UTC)")
    mute.add_argument("--reason", default=DEFAULT_REASON, help="why, for the others who see it")
    mute.add_argument(
        "--monitors", type=Path, help="the monitors file the pattern must match (default: the repo's, as for status)"
    )
    mute.add_argument("--force", action="store_true", help="store it even when the pattern matches no monitor")
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
    until = getattr(args, "until", None)
    if args.duration is None and until is None and every is None:
        raise BadSilence("say how long (--for 3d), until when (--until) or when it comes back (--every ...)")
    if args.duration is not None and until is not None:
        raise BadSilence("say --for or --until, not both")
    start = moment("--from", args.start) if getattr(args, "start", None) else now
    ends = moment("--until", until) if until is not None else None
    if args.duration is not None:
        ends = start + duration(args.duration)
    if ends is not None and ends <= max(start, now):
        raise BadSilence(f"the silence would end {format_time(ends)}, before it starts or in the past: nothing to hold")
    if ends is not None and ends - start > LONGEST:
        raise BadSilence(f"a silence lasts at most {LONGEST.days} days: disable the monitor (enabled: false) instead")
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


def moment(option: str, text: str) -> datetime:
    """`--from` or `--until`: a date or time (UTC unless it says its offset)."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadSilence(f"{option} '{text}' is not a date or time: use e.g. 2026-12-04T18:00+01:00") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def duration(text: str) -> timedelta:
    found = _DURATION.match(text)
    if not found or float(found.group(1)) <= 0:
        raise BadSilence(f"--for '{text}' is not a duration: use e.g. 3d, 12h, 2w or 90m")
    amount = float(found.group(1))
    days = amount * {"m": 1 / 1440, "h": 1 / 24, "d": 1, "w": 7}[found.group(2).lower()]
    if days > LONGEST.days:  # before timedelta, which overflows past 999,999,999 days
        raise BadSilence(f"--for '{text}' is too long: a silence lasts at most {LONGEST.days} days")
    return timedelta(**{_UNITS[found.group(2).lower()]: amount})


def require_a_match(pattern: str, known: list[str]) -> None:
    """Refuse a monitor pattern that matches none of `known`, naming the closest names."""
    monitor, _ = split_pattern(pattern)
    if any(fnmatchcase(name, monitor) for name in known):
        return
    close = difflib.get_close_matches(monitor, known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"its monitors: {', '.join(sorted(known)[:5]) or 'none'}"
    raise BadSilence(f"'{monitor}' matches no monitor of the monitors file ({hint}); --force stores it anyway")


def _mute(args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    new_silence(args, "", now)  # what it asks for is checked before the stack is looked for
    if not args.force:
        require_a_match(args.pattern, [m.id for m in monitors_of(args.monitors)])
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
