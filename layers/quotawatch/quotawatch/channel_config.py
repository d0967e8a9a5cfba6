"""`channels:` in monitors.yaml: where messages go beside the SNS topic (core/channels.py).

A broken channel is a problem naming file, channel and field, and is left out. Secrets are
never in the file: `secret_field` names their field in the API-keys secret.
"""

from __future__ import annotations

from typing import Any

from msgspec import UnsetType

from quotawatch import models
from quotawatch.core.channels import PAGERDUTY_URL, Channel
from quotawatch.core.urls import may_carry_a_key
from quotawatch.echo import InvalidField as Invalid
from quotawatch.echo import bounded, show
from quotawatch.strict_yaml import MAX_CHANNELS, read_list

_DEFAULT_SEVERITY = ("warning", "critical")  # [is pagerduty]


def parse_channels(value: Any, source: str) -> tuple[tuple[Channel, ...], tuple[str, ...]]:
    """The usable channels, and one line per problem."""
    if value is None:
        return (), ()
    if not isinstance(value, list):
        return (), (bounded(f"{source}: field 'channels': must be a list of channels, got {show(value)}"),)
    if len(value) > MAX_CHANNELS:
        return (), (f"{source}: field 'channels': {len(value)} channels, more than the {MAX_CHANNELS} allowed",)
    channels, problems = read_list(source, value, "channel", "name", _channel)
    return tuple(channels), tuple(line for _, lines in problems for line in lines)


def _channel(entry: Any, twin: str | None) -> Channel:
    """The channel an entry holds; InvalidField with every wrong field, each once."""
    model, shape = models.check_fields(entry, models.ChannelModel)
    found = [Invalid("name", "another channel already has this name")] if twin else []
    found += shape
    kind = model.type  # None when wrong: then no rule of the type is checked
    url = None if isinstance(model.url, UnsetType) else model.url
    if url is not None and kind not in ("pagerduty", None):
        why = "only a pagerduty channel takes a url; a webhook's URL is a secret (secret_field)"
        found.append(Invalid("url", why))
    elif url is not None and not may_carry_a_key(url):
        found.append(Invalid("url", f"must be an https URL such as {PAGERDUTY_URL}, got {show(url)}"))
    signing = None if isinstance(model.signing_secret_field, UnsetType) else model.signing_secret_field
    if signing is not None and kind not in ("webhook", None):
        found.append(Invalid("signing_secret_field", "only a webhook channel is signed"))
    if signing is None and kind == "webhook" and "signing_secret_field" not in {f.field for f in shape}:
        found.append(Invalid("signing_secret_field", "missing: name the field of the API-keys secret that holds it"))
    if found:
        raise Invalid.of(found)
    severity = model.min_severity if isinstance(model.min_severity, str) else _DEFAULT_SEVERITY[kind == "pagerduty"]
    return Channel(
        name=model.name,
        type=kind,
        secret_field=model.secret_field,
        min_severity=severity,
        monitors=tuple([model.monitors] if isinstance(model.monitors, str) else model.monitors),
        signals=tuple([model.signals] if isinstance(model.signals, str) else model.signals),
        url=url,
        signing_secret_field=signing,
    )
