"""Fetching one monitor's usage: its key, the provider's answer, a snapshot or a check error.

Every text of the snapshot is masked with the key here, and only then cut to length
(core/masking.py): a provider may echo the key anywhere, in an error, in a plan name, even
as the name of a key, and a key cut before masking would no longer be recognised.
Providers pass their text on whole.

The fetch is a coroutine (`fetch_snapshot_async`): a check run awaits every monitor's on one
event loop (check.py). `fetch_snapshot` is the same for one monitor through a sync
JsonFetcher, run without a loop.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from quotawatch.config import Monitor
from quotawatch.core.bounds import bounded
from quotawatch.core.errors import CheckFailed
from quotawatch.core.masking import mask, mask_and_cut
from quotawatch.core.snapshot import ErrorKind, Meter, Snapshot
from quotawatch.ports import HttpAnswer, HttpRequest, JsonFetcher, KeyStore
from quotawatch.providers.base import Pages, ParsedUsage, Provider, declared_part
from quotawatch.providers.parsing import BadResponse, monthly_period, require_object, require_plausible

# How long a message (a condition's, an error's) and a name (a meter's, a condition's, a
# unit) may be once masked.
MESSAGE_CHARS = 300
NAME_CHARS = 100
# A rejected key is read afresh from the store at most this often in one fetch (a key
# rotated twice while it was being used); the store bounds its own reads per run.
KEY_REFRESHES = 2
MIN_FORM_CHARS = 4
# How long one monitor's pages may take to read, all told: a run checks many monitors.
PAGES_SECONDS = 20

# How a fetch is asked for: HttpClient.fetch_async, or a sync JsonFetcher's fetch (`inline`).
Fetch = Callable[[HttpRequest], Awaitable[HttpAnswer]]
T = TypeVar("T")


def fetch_snapshot(
    monitor: Monitor, provider: Provider, keys: KeyStore, http: JsonFetcher, checked_at: datetime
) -> Snapshot:
    """The provider's usage as a snapshot, or a snapshot carrying a classified check error."""
    return completed(fetch_snapshot_async(monitor, provider, keys, inline(http), checked_at))


def inline(http: JsonFetcher) -> Fetch:
    """A sync JsonFetcher's fetch as a coroutine that never waits on the loop."""

    async def fetch(request: HttpRequest) -> HttpAnswer:
        return http.fetch(request)

    return fetch


def completed(work: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that waits on nothing (its fetches are `inline`), with no loop."""
    try:
        work.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    work.close()
    raise RuntimeError("this coroutine waits on an event loop: run it on one")


async def fetch_snapshot_async(
    monitor: Monitor, provider: Provider, keys: KeyStore, fetch: Fetch, checked_at: datetime
) -> Snapshot:
    """The provider's usage as a snapshot, or a snapshot carrying a classified check error."""
    tried: list[str] = []  # every key sent: a text may echo any of them
    where = keys.where(monitor.secret_field)
    try:
        key = _key(monitor, keys, checked_at)
        for refreshes in range(KEY_REFRESHES + 1):
            tried.append(key)
            # As it travelled (url-encoded, base64, a basic password): an echo may show any.
            # Not a fragment of a few characters: masking it would blank ordinary words.
            tried.extend(form for form in provider.auth.forms(key) if len(form) >= MIN_FORM_CHARS)
            try:
                usage = await _read_usage(provider, monitor, key, checked_at, fetch)
                break
            except CheckFailed as exc:
                # A rejected key may have been rotated in the secret since it was cached.
                if exc.kind is not ErrorKind.AUTH or refreshes == KEY_REFRESHES:
                    raise
                fresh = keys.refresh(monitor.secret_field, checked_at)
                if fresh is None or fresh == key:
                    raise
                key = fresh
    except BadResponse as exc:
        return _failed(
            monitor, checked_at, exc.kind, f"{provider.display_name} answered with unexpected data: {exc}", "", tried
        )
    except CheckFailed as exc:
        return _failed(monitor, checked_at, exc.kind, exc.message, _hint(exc, where), tried)
    snapshot = Snapshot(
        monitor=monitor.id,
        provider=provider.name,
        checked_at=checked_at,
        period=usage.period,
        meters=usage.meters,
        conditions=usage.conditions,
    )
    # Masked first, then bounded to what one stored item holds: cutting never comes first.
    return bounded(masked(snapshot, tried, provider))


def _key(monitor: Monitor, keys: KeyStore, checked_at: datetime) -> str:
    """The monitor's key. One not in the cached secret may have been put in since (day one:
    the keys go in after the deploy): the store reads it again, within its reads per run."""
    try:
        return keys.get(monitor.secret_field)
    except CheckFailed as exc:
        fresh = keys.refresh(monitor.secret_field, checked_at) if exc.kind is ErrorKind.NO_KEY else None
        if fresh is None:
            raise
        return fresh


def masked(snapshot: Snapshot, secrets: Iterable[str | None], provider: Provider | None = None) -> Snapshot:
    """`snapshot` with every text from the provider masked, then cut: messages, the error,
    and the names a provider's text is part of.

    The part of a name the provider module declares (`meter_names`, `condition_names`:
    "limit_exceeded", the "key:" of "key:<name>") is the module's own and kept, so that a
    signal's name never changes with the key; the rest is masked. A name that masking (or
    cutting) makes equal to another gets a number (' #2') in the order the provider listed
    them; names that hold no key keep theirs. Never a hash of the key: that would let
    anyone who can read a snapshot confirm a guess of it. Units are the modules' own.
    """
    keys = [s for s in secrets if s]
    if not keys:
        return snapshot
    meter_names = _names([m.name for m in snapshot.meters], keys, provider.meter_names if provider else ())
    condition_names = _names([c.name for c in snapshot.conditions], keys, provider.condition_names if provider else ())
    meters = tuple(
        m if m.name == name else replace(m, name=name) for m, name in zip(snapshot.meters, meter_names, strict=True)
    )
    conditions = tuple(
        replace(c, name=name, message=mask_and_cut(c.message, keys, MESSAGE_CHARS))
        for c, name in zip(snapshot.conditions, condition_names, strict=True)
    )
    error = snapshot.error
    if error is not None:
        error = replace(error, message=mask_and_cut(error.message, keys, MESSAGE_CHARS))
    if meters == snapshot.meters and conditions == snapshot.conditions and error == snapshot.error:
        return snapshot  # nothing masked (most checks): the same snapshot, not a copy
    return replace(snapshot, meters=meters, conditions=conditions, error=error)


def _names(names: list[str], keys: list[str], declared: tuple[str, ...]) -> list[str]:
    """Masked and cut names, still unique and stable from one check to the next."""
    shown = [_name(name, keys, declared) for name in names]
    taken = {s for name, s in zip(names, shown, strict=True) if s == name}
    unique: list[str] = []
    for index, (name, s) in enumerate(zip(names, shown, strict=True)):
        if s != name:
            base, number = s, 1
            while s in taken:
                number += 1
                # Masked again: the number must not complete a run of a key either.
                s = mask(f"{base} #{number}", keys) if number < len(names) + 100 else f"#{index + 1}.{number}"
            taken.add(s)
        unique.append(s)
    return unique


def _name(name: str, keys: list[str], declared: tuple[str, ...]) -> str:
    ours = declared_part(name, declared) or ""
    if ours == name:
        return name
    shown = ours + mask_and_cut(name[len(ours) :], keys, NAME_CHARS - len(ours))
    if ours and mask(shown, keys) != shown:  # the prefix completes a run of a key: mask it all
        shown = mask_and_cut(name, keys, NAME_CHARS)
    return shown


async def _read_usage(
    provider: Provider, monitor: Monitor, key: str, checked_at: datetime, fetch: Fetch
) -> ParsedUsage:
    try:
        # A key a header cannot carry is refused by the HTTP client, as a config error that
        # `_hint` points at the secret field.
        request = provider.request(key, monitor.base_url, monitor.params, checked_at, monitor.monthly_on)
        answer = await fetch(request)
        if provider.pages is not None:
            answer = await _all_pages(provider.pages, request, answer, fetch)
    except CheckFailed as exc:
        if provider.read_refusal is not None and exc.status is not None:
            usage = provider.read_refusal(exc.status, exc.body, checked_at)
            if usage is not None:
                return usage
        raise
    body = answer.body
    if provider.reads_headers:  # `headers.NAME` in its expressions, lower-case: beside the body's fields
        headers = {name.lower(): value for name, value in answer.headers.items()}  # a repeated one: its last
        body = {**body, "headers": headers} if isinstance(body, dict) else {"headers": headers}
    try:
        usage = provider.parse(body, checked_at)
    except BadResponse:
        raise
    except (RecursionError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        # A parser is fuzzed to raise nothing else, but an answer is the provider's text:
        # whatever it makes a parser trip on is still a broken answer, not our failure.
        raise BadResponse(f"the answer could not be read ({type(exc).__name__})") from None
    if monitor.monthly_on and provider.monthly_on:  # the monitor's billing month
        usage = replace(usage, period=monthly_period(monitor.monthly_on, checked_at))
    if monitor.meter_limits:
        usage = replace(usage, meters=tuple(_own_limit(m, monitor.meter_limits.get(m.name)) for m in usage.meters))
    require_plausible(usage.meters)  # impossible figures: a broken answer, never a breach
    return usage


async def _all_pages(pages: Pages, request: HttpRequest, first: HttpAnswer, fetch: Fetch) -> HttpAnswer:
    """The first page with each top-level list continued by the following pages' lists, so
    that expressions read all of them (`sum(data[].amount)`). Never a partial answer: more
    pages than `pages.max`, a cursor seen before or a run out of time is a failed reading."""
    page = require_object(first.body)
    merged = dict(page)
    lists: dict[str, list[Any]] = {}
    seen: set[str] = set()
    started = time.monotonic()
    while pages.more is None or pages.more.holds(page):
        cursor = pages.next.value(page)
        if cursor is None or cursor == "":
            break
        if isinstance(cursor, bool) or not isinstance(cursor, (str, int)):
            raise BadResponse(f"field '{pages.next.source}' is not a page cursor", pages.next.source)
        if len(seen) + 1 >= pages.max:
            raise BadResponse(f"the answer has more than {pages.max} pages (pages.max): not read, not summed in part")
        token = str(cursor)
        if token in seen:
            raise BadResponse(f"the page cursor '{pages.next.source}' repeated after {len(seen) + 1} pages")
        if time.monotonic() - started > PAGES_SECONDS:
            raise CheckFailed(ErrorKind.UNAVAILABLE, f"its pages took more than {PAGES_SECONDS} s to read")
        seen.add(token)
        page = require_object((await fetch(request._replace(url=with_query(request.url, pages.param, token)))).body)
        for name, value in page.items():
            if isinstance(value, list) and isinstance(merged.get(name), list):
                merged[name] = lists.setdefault(name, list(merged[name]))
                lists[name].extend(value)
    return first._replace(body=merged)


def with_query(url: str, name: str, value: str) -> str:
    """`url` with the query parameter `name` set to `value` (replacing one already there)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return urlunsplit(parts._replace(query=urlencode([*query, (name, value)])))


def _own_limit(meter: Meter, limit: float | None) -> Meter:
    """A meter the API reports without a limit, against the monitor's own (a monthly budget)."""
    if limit is None or meter.limit is not None or meter.used is None:
        return meter
    return replace(meter, limit=limit, remaining=max(limit - meter.used, 0.0))


def _hint(exc: CheckFailed, where: str) -> str:
    """Where to look for the key, for errors that are the key's fault (unless already said):
    a rejected key, or a key the HTTP client found a header cannot carry (not a 404 or a URL)."""
    text = exc.message.lower()
    about_key = exc.kind is ErrorKind.AUTH or (exc.kind is ErrorKind.CONFIG and "header" in text and "key" in text)
    return f"; check {where}" if about_key and where not in exc.message else ""


def _failed(
    monitor: Monitor, checked_at: datetime, kind: ErrorKind, message: str, hint: str, keys: list[str]
) -> Snapshot:
    # Only the message is masked: the monitor's id and where its key lives are the user's
    # own words (an id may well share 8 characters with its key). It is cut before the
    # hint is added, so that a long provider text never pushes out where to look.
    prefix = f"{monitor.id}: "
    text = mask_and_cut(message, keys, MESSAGE_CHARS - len(prefix) - len(hint))
    return bounded(Snapshot.failed(monitor.id, monitor.provider, checked_at, kind, prefix + text + hint))
