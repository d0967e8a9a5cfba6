"""`channels:` in monitors.yaml: where messages go beside the SNS topic (core/channels.py).

Each entry is checked on its own: a broken channel is a problem naming the file, the
channel and the field (`quotawatch check-config` prints it) and is left out; the others
and every monitor still work. Secrets (webhook URLs, routing keys, signing keys) are never
in the file: `secret_field` names their field in the API-keys secret.
"""

from __future__ import annotations

import re
from typing import Any

from quotawatch.core.channels import PAGERDUTY_URL, SEVERITIES, TYPES, Channel
from quotawatch.core.urls import may_carry_a_key
from quotawatch.echo import InvalidField as _Invalid
from quotawatch.echo import _bounded, _first_name, _show, _text

MAX_CHANNELS = 20
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_FIELDS = {"name", "type", "secret_field", "min_severity", "monitors", "signals", "url", "signing_secret_field"}
_MAX_PATTERNS = 50


def parse_channels(value: Any, source: str) -> tuple[tuple[Channel, ...], tuple[str, ...]]:
    """The usable channels, and one line per problem."""
    if value is None:
        return (), ()
    if not isinstance(value, list):
        return (), (_bounded(f"{source}: field 'channels': must be a list of channels, got {_show(value)}"),)
    if len(value) > MAX_CHANNELS:
        return (), (f"{source}: field 'channels': {len(value)} channels, more than the {MAX_CHANNELS} allowed",)
    channels: list[Channel] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(value, start=1):
        name = entry.get("name") if isinstance(entry, dict) else None
        shown = _text(name) if isinstance(name, str) and name else f"#{index}"
        try:
            if isinstance(name, str) and name in seen:
                raise _Invalid("name", "another channel already has this name")
            channel = _channel(entry)
            seen.add(channel.name)
            channels.append(channel)
        except _Invalid as exc:
            problems.append(_bounded(f"{source}: channel '{shown}': field '{exc.field}': {exc}"))
    return tuple(channels), tuple(problems)


def _channel(entry: Any) -> Channel:
    if not isinstance(entry, dict):
        raise _Invalid("-", f"each channel must be a mapping of fields, got {_show(entry)}")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise _Invalid(_first_name(unknown), f"unknown field (allowed: {', '.join(sorted(_FIELDS))})")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _Invalid("name", f"must be lower-case letters, digits, '-' or '_' (1-63), got {_show(name)}")
    kind = entry.get("type")
    if kind not in TYPES:
        raise _Invalid("type", f"must be one of {', '.join(TYPES)}, got {_show(kind)}")
    secret_field = _secret_field(entry, "secret_field", required=True) or ""
    severity = entry.get("min_severity", "critical" if kind == "pagerduty" else "warning")
    if severity not in SEVERITIES:
        raise _Invalid("min_severity", f"must be one of {', '.join(SEVERITIES)}, got {_show(severity)}")
    url = entry.get("url")
    if url is not None:
        if kind != "pagerduty":
            raise _Invalid("url", "only a pagerduty channel takes a url; a webhook's URL is a secret (secret_field)")
        if not isinstance(url, str) or not may_carry_a_key(url):
            raise _Invalid("url", f"must be an https URL such as {PAGERDUTY_URL}, got {_show(url)}")
    signing = _secret_field(entry, "signing_secret_field", required=kind == "webhook")
    if signing is not None and kind != "webhook":
        raise _Invalid("signing_secret_field", "only a webhook channel is signed")
    return Channel(
        name=name,
        type=kind,
        secret_field=secret_field,
        min_severity=severity,
        monitors=_patterns(entry, "monitors"),
        signals=_patterns(entry, "signals"),
        url=url,
        signing_secret_field=signing,
    )


def _secret_field(entry: dict[Any, Any], field: str, required: bool) -> str | None:
    value = entry.get(field)
    if value is None and not required:
        return None
    if value is None:
        raise _Invalid(field, "missing: name the field of the API-keys secret that holds it")
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise _Invalid(field, f"must name a field of the API-keys secret, got {_show(value)}")
    return value


def _patterns(entry: dict[Any, Any], field: str) -> tuple[str, ...]:
    value = entry.get(field, ["*"])
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or len(value) > _MAX_PATTERNS
        or not all(isinstance(p, str) and 0 < len(p) <= 200 for p in value)
    ):
        raise _Invalid(field, f'must be a list of patterns such as ["imagerouter*"], got {_show(value)}')
    return tuple(value)
