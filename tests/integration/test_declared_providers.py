"""Providers a user declares, and the catalogue's, through CheckUsageFunction on the local
stack: a usage-only API with a budget of the monitor's own raises a warning message that
names it; a catalogue entry is read from its documented answer; a broken declaration beside
the monitors file costs its monitor only, with one line naming the file, provider and field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from quotawatch_local.fakes import FakeProvider, ProviderApi, Reply, always
from quotawatch_local.fakes.catalogued import fixtures
from quotawatch_local.inbox import Inbox
from quotawatch_local.local_stack import LocalStack
from tests.integration.conftest import Platform, items, put_keys, tick, write_monitors

pytestmark = pytest.mark.integration

ACME_KEY = "acme_live_5f0c1d2e3b4a69788796a5b4c3d2e1f0"
ACME = {
    "display_name": "Acme Search",
    "url": "https://api.acme-search.example/v2/accounts/{account}/spend",
    "params": {"account": "the account id"},
    "auth": "Authorization: Token {key}",
    "meters": {"spend": {"used": "month.spent_cents", "unit": "USD", "scale": 0.01}},
}
ACME_API = ProviderApi(
    name="acme",
    paths=("/v2/accounts/A-17/spend",),
    auth_header="authorization",
    auth_prefix="Token ",
    unauthorized=Reply(401, {"error": "bad token"}),
)


def test_declared_and_catalogued_providers_run_beside_a_broken_one(
    stack: LocalStack, inbox: Inbox, tmp_path: Path
) -> None:
    openrouter = fixtures()["openrouter"]
    put_keys(stack, {"acme": ACME_KEY, "openrouter": openrouter.key, "broken": "k-0123456789"})
    acme_fake = FakeProvider(ACME_API, ACME_KEY, always(Reply(200, {"month": {"spent_cents": 4500}})))
    openrouter_fake = FakeProvider(openrouter.api(), openrouter.key, openrouter.scenarios()["documented"])
    with acme_fake as acme, openrouter_fake as router:
        (tmp_path / "providers").mkdir()
        (tmp_path / "providers" / "acme.yaml").write_text(yaml.safe_dump(ACME))
        (tmp_path / "providers" / "broken.yaml").write_text("url: http://plain.example/usage\nauth: x\n")
        monitors = write_monitors(
            tmp_path,
            [
                {
                    "id": "acme-prod",
                    "provider": "acme",
                    "secret_field": "acme",
                    "base_url": acme.base_url,
                    "params": {"account": "A-17"},
                    "meters": {"spend": {"limit": 50}},
                },
                {
                    "id": "openrouter",
                    "provider": "openrouter",
                    "secret_field": "openrouter",
                    "base_url": router.base_url,
                },
                {"id": "broken-mon", "provider": "broken", "secret_field": "broken"},
            ],
        )
        with Platform(stack, monitors) as platform:
            invocation = platform.check(tick(1))

    by_monitor = {m["monitor"]: m for m in invocation.result["monitors"]}
    assert by_monitor["acme-prod"]["status"] == "ok"
    assert by_monitor["openrouter"]["status"] == "ok"
    assert by_monitor["broken-mon"]["error"]["kind"] == "config"
    message = by_monitor["broken-mon"]["error"]["message"]
    assert re.search(r"providers/broken\.yaml: line \d+: provider 'broken': field 'url'", message)

    [snapshot] = items(stack, "acme-prod", "SNAP#")
    stored = json.loads(snapshot["snapshot"]["S"])
    assert stored["meters"] == [{"name": "spend", "used": 45.0, "limit": 50.0, "remaining": 5.0, "unit": "USD"}]
    router_meters = json.loads(items(stack, "openrouter", "SNAP#")[0]["snapshot"]["S"])["meters"]
    assert router_meters[0] == {"name": "key_credit", "used": 25.5, "limit": 100, "remaining": 74.5, "unit": "USD"}

    [message] = inbox.take()
    assert message.subject.startswith("[WARNING] acme-prod: spend at 90% of its $50.00 budget")  # the monitor's
    assert "Acme Search" in message.body
    errors = [r["message"] for r in invocation.log_records() if r.get("level") == "ERROR"]
    declared = re.compile(r"providers/broken\.yaml: line \d+: provider 'broken': field 'url'")
    assert any(declared.match(line) for line in errors), errors
    logs = "\n".join(invocation.logs)
    assert ACME_KEY not in logs
    assert openrouter.key not in logs
    assert acme.requests[0]["authorization"] == f"Token {ACME_KEY}"


def test_paged_time_windowed_and_header_entries_through_the_check(stack: LocalStack, tmp_path: Path) -> None:
    """OpenAI's costs over two pages against a budget of the monitor's own, Anthropic's cost
    report (its API version header required) and OpenAI's rate-limit headers, each from
    its https fake through CheckUsageFunction."""
    catalogue = fixtures()
    names = ("openai", "anthropic", "openai-ratelimits")
    put_keys(stack, {name: catalogue[name].key for name in names})
    served = {
        name: FakeProvider(catalogue[name].api(), catalogue[name].key, catalogue[name].scenarios()[answer])
        for name, answer in (("openai", "paginated"), ("anthropic", "paginated"), ("openai-ratelimits", "documented"))
    }
    with served["openai"] as openai, served["anthropic"] as anthropic, served["openai-ratelimits"] as limits:
        monitors = write_monitors(
            tmp_path,
            [
                {
                    "id": "openai-spend",
                    "provider": "openai",
                    "secret_field": "openai",
                    "base_url": openai.base_url,
                    "meters": {"cost_this_month": {"limit": 200}},
                },
                {
                    "id": "claude-spend",
                    "provider": "anthropic",
                    "secret_field": "anthropic",
                    "base_url": anthropic.base_url,
                },
                {
                    "id": "openai-limits",
                    "provider": "openai-ratelimits",
                    "secret_field": "openai-ratelimits",
                    "base_url": limits.base_url,
                },
            ],
        )
        with Platform(stack, monitors) as platform:
            invocation = platform.check(tick(1))

    assert {m["monitor"]: m["status"] for m in invocation.result["monitors"]} == {
        "openai-spend": "ok",
        "claude-spend": "ok",
        "openai-limits": "ok",
    }

    def meters(monitor: str) -> list[dict[str, object]]:
        return list(json.loads(items(stack, monitor, "SNAP#")[0]["snapshot"]["S"])["meters"])

    assert meters("openai-spend") == [
        {"name": "cost_this_month", "used": 100.0, "limit": 200.0, "remaining": 100.0, "unit": "USD"}
    ]
    assert meters("claude-spend") == [
        {"name": "cost_this_month", "used": 20.0, "limit": None, "remaining": None, "unit": "USD"}
    ]
    assert [m["remaining"] for m in meters("openai-limits")] == [59.0, 149984.0]
    assert len(openai.paths) == 2  # both pages
    assert "page=page_AAAAAGdGxdEATdv0" in openai.paths[1]
    assert anthropic.requests[0]["anthropic-version"] == "2023-06-01"
    logs = "\n".join(invocation.logs)
    assert all(catalogue[name].key not in logs for name in names)
