"""Fetching one monitor's usage: its key, the provider's answer, a snapshot or a check error.

Every text that leaves here is masked first (core/masking.py): a provider may echo the key.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from quotawatch.config import Monitor
from quotawatch.core.errors import CheckFailed
from quotawatch.core.masking import mask
from quotawatch.core.snapshot import ErrorKind, Snapshot
from quotawatch.ports import JsonFetcher, KeyStore
from quotawatch.providers.base import ParsedUsage, Provider
from quotawatch.providers.parsing import BadResponse


def fetch_snapshot(
    monitor: Monitor, provider: Provider, keys: KeyStore, http: JsonFetcher, checked_at: datetime
) -> Snapshot:
    """The provider's usage as a snapshot, or a snapshot carrying a classified check error."""
    key: str | None = None
    try:
        key = keys.get(monitor.secret_field)
        try:
            usage = _read_usage(provider, monitor, key, checked_at, http)
        except CheckFailed as exc:
            # A rejected key may have been rotated in the secret since it was cached.
            fresh = keys.refresh(monitor.secret_field, checked_at) if exc.kind is ErrorKind.AUTH else None
            if fresh is None or fresh == key:
                raise
            key = fresh
            usage = _read_usage(provider, monitor, key, checked_at, http)
    except BadResponse as exc:
        return _failed(
            monitor, checked_at, exc.kind, f"{provider.display_name} answered with unexpected data: {exc}", key
        )
    except CheckFailed as exc:
        hint = f"; check {keys.where(monitor.secret_field)}" if exc.kind is ErrorKind.AUTH else ""
        return _failed(monitor, checked_at, exc.kind, exc.message + hint, key)
    return Snapshot(
        monitor=monitor.id,
        provider=provider.name,
        checked_at=checked_at,
        period=usage.period,
        meters=usage.meters,
        # Providers sometimes echo what they were sent, even in a plan name or billing text.
        conditions=tuple(replace(c, message=_redact(c.message, key)) for c in usage.conditions),
    )


def _read_usage(provider: Provider, monitor: Monitor, key: str, checked_at: datetime, http: JsonFetcher) -> ParsedUsage:
    try:
        body = http.get_json(provider.url(monitor.base_url), provider.auth_headers(key))
    except CheckFailed as exc:
        if provider.read_refusal is not None and exc.status is not None:
            usage = provider.read_refusal(exc.status, exc.body, checked_at)
            if usage is not None:
                return usage
        raise
    return provider.parse(body, checked_at)


def _failed(monitor: Monitor, checked_at: datetime, kind: ErrorKind, message: str, key: str | None) -> Snapshot:
    return Snapshot.failed(monitor.id, monitor.provider, checked_at, kind, _redact(f"{monitor.id}: {message}", key))


def _redact(text: str, key: str | None) -> str:
    return mask(text, [key])
