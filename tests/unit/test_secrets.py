"""Keys from Secrets Manager: cached, re-read when a rejected key may have been rotated
(also twice in one run), bounded, and never a value in an error."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from quotawatch.adapters.http import HttpClient
from quotawatch.adapters.secrets import KeyUnavailable, SecretsKeyStore
from quotawatch.config import Monitor
from quotawatch.core.errors import CheckFailed
from quotawatch.core.snapshot import ErrorKind
from quotawatch.fetching import fetch_snapshot
from quotawatch.ports import HttpAnswer, HttpRequest
from quotawatch.providers import PROVIDERS
from quotawatch_local.embedded_aws import EmbeddedAws, embedded_aws
from quotawatch_local.fakes import FakeProvider, Reply, always
from quotawatch_local.fakes import cloudlayer as fake_cloudlayer
from tests.unit.support import OneKey, Serve

SECRET = "quotawatch/api-keys"
RUN = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
NEXT_RUN = RUN + timedelta(minutes=15)
CLOUDLAYER = PROVIDERS["cloudlayer"]


class FakeSecretsClient:
    """The one Secrets Manager call SecretsKeyStore makes, counted."""

    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = keys
        self.calls = 0
        self._lock = threading.Lock()

    def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 - boto3's argument name
        assert SecretId == SECRET
        with self._lock:
            self.calls += 1
        return {"SecretString": json.dumps(self.keys)}


class OnlyKey:
    """A provider (JsonFetcher) that accepts only its current key, and counts requests."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.requests = 0

    def fetch(self, request: HttpRequest) -> HttpAnswer:
        headers = request.headers
        self.requests += 1
        if headers.get("X-API-Key") != self.key:
            raise CheckFailed(ErrorKind.AUTH, "api.cloudlayer.io rejected the API key (401)", 401, None)
        return HttpAnswer(fake_cloudlayer.LIMIT_PLAN)


def monitor(field: str = "cloudlayer-prod") -> Monitor:
    return Monitor(id=field, provider="cloudlayer", secret_field=field)


# --- the cache -------------------------------------------------------------------------------


def test_a_warm_run_without_a_rejection_reads_nothing() -> None:
    secrets = FakeSecretsClient({"a": "key-a-000000", "b": "key-b-000000"})
    keys = SecretsKeyStore(secrets, SECRET)
    provider = OnlyKey("key-a-000000")
    for run in (RUN, NEXT_RUN, NEXT_RUN + timedelta(minutes=15)):
        assert fetch_snapshot(monitor("a"), CLOUDLAYER, keys, provider, run).ok
    assert secrets.calls == 1


def test_a_key_rotated_twice_in_one_run_is_picked_up_both_times() -> None:
    secrets = FakeSecretsClient({"cloudlayer-prod": "key-v1-00000000"})
    keys = SecretsKeyStore(secrets, SECRET)
    provider = OnlyKey("key-v1-00000000")
    assert fetch_snapshot(monitor(), CLOUDLAYER, keys, provider, RUN).ok

    for version in ("v2", "v3"):  # rotated, checked, rotated again, checked again: one run
        provider.key = secrets.keys["cloudlayer-prod"] = f"key-{version}-00000000"
        snapshot = fetch_snapshot(monitor(), CLOUDLAYER, keys, provider, NEXT_RUN)
        assert snapshot.ok, snapshot.error
    assert secrets.calls == 3  # one read, then one per rotation


def test_a_key_rotated_again_while_it_was_being_tried_is_picked_up() -> None:
    """The fresh key is rejected too (rotated meanwhile): the secret is read once more."""
    secrets = FakeSecretsClient({"cloudlayer-prod": "key-v1-00000000"})
    keys = SecretsKeyStore(secrets, SECRET)
    keys.get("cloudlayer-prod")
    secrets.keys["cloudlayer-prod"] = "key-v2-00000000"

    class RotatesOnUse(OnlyKey):
        def fetch(self, request: HttpRequest) -> HttpAnswer:
            headers = request.headers
            if headers.get("X-API-Key") == "key-v2-00000000":  # the user rotates again right now
                secrets.keys["cloudlayer-prod"] = self.key = "key-v3-00000000"
            return super().fetch(request)

    provider = RotatesOnUse("key-v2-00000000")
    assert fetch_snapshot(monitor(), CLOUDLAYER, keys, provider, RUN).ok
    assert provider.requests == 3
    assert secrets.calls == 3


def test_a_key_rotated_after_other_monitors_re_read_the_secret_is_read_again() -> None:
    """m-b's key was handed out, other monitors re-read the secret (their own rotations),
    then m-b's key was rotated: the cached copy is newer than m-b's key, yet holds it still."""
    secrets = FakeSecretsClient({"m-a": "key-a-v1-000000", "m-b": "key-b-v1-000000"})
    keys = SecretsKeyStore(secrets, SECRET, rereads_per_run=5)
    assert keys.get("m-b") == "key-b-v1-000000"
    for version in ("v2", "v3"):  # m-a rotated twice, re-read twice
        keys.get("m-a")
        secrets.keys["m-a"] = f"key-a-{version}-000000"
        assert keys.refresh("m-a", RUN) == f"key-a-{version}-000000"
    secrets.keys["m-b"] = "key-b-v2-000000"
    provider = OnlyKey("key-b-v2-000000")
    snapshot = fetch_snapshot(monitor("m-b"), CLOUDLAYER, keys, provider, RUN)
    assert snapshot.ok, snapshot.error
    assert secrets.calls == 4


def test_a_rejected_key_with_nothing_new_is_an_auth_error_pointing_at_the_secret() -> None:
    secrets = FakeSecretsClient({"cloudlayer-prod": "key-revoked-0000"})
    keys = SecretsKeyStore(secrets, SECRET)
    snapshot = fetch_snapshot(monitor(), CLOUDLAYER, keys, OnlyKey("another-key-000"), RUN)
    assert snapshot.error is not None
    assert snapshot.error.kind is ErrorKind.AUTH
    assert snapshot.error.message.endswith(f"; check field 'cloudlayer-prod' of secret '{SECRET}'")
    assert secrets.calls == 2


def test_re_reads_are_bounded_per_run_however_many_keys_are_rejected() -> None:
    fields = [f"monitor-{n}" for n in range(100)]
    secrets = FakeSecretsClient({field: f"revoked-{field}" for field in fields})
    keys = SecretsKeyStore(secrets, SECRET)
    provider = OnlyKey("none-of-them")
    for field in fields:
        assert fetch_snapshot(monitor(field), CLOUDLAYER, keys, provider, RUN).error is not None
    assert secrets.calls == 1 + 3
    for field in fields[:10]:  # the next run may read again, as boundedly
        fetch_snapshot(monitor(field), CLOUDLAYER, keys, provider, NEXT_RUN)
    assert secrets.calls == 1 + 3 + 3


def test_each_invocation_may_read_again_in_the_same_second() -> None:
    """Day one: `check-now` (no key yet), the key put in, `check-now` again, within one second
    (a run is told by its time, to the second): the last invocation reads the key."""
    secrets = FakeSecretsClient({})
    keys = SecretsKeyStore(secrets, SECRET)
    for _ in range(3):
        keys.new_run()
        assert keys.refresh("cloudlayer-prod", RUN) is None
    secrets.keys["cloudlayer-prod"] = "key-cl-000000"
    keys.new_run()
    assert keys.refresh("cloudlayer-prod", RUN) == "key-cl-000000"


def test_monitors_on_a_thread_pool_share_one_re_read() -> None:
    """Rejected keys that came from the copy another thread has since replaced need no read."""
    secrets = FakeSecretsClient({"shared": "key-v1-00000000"})
    keys = SecretsKeyStore(secrets, SECRET)
    started = threading.Barrier(8)
    results: list[bool] = []

    def check() -> None:
        assert keys.get("shared") == "key-v1-00000000"
        started.wait()  # every thread holds the old key before anyone re-reads
        fresh = keys.refresh("shared", RUN)
        results.append(fresh == "key-v2-00000000")

    keys.get("shared")
    secrets.keys["shared"] = "key-v2-00000000"
    threads = [threading.Thread(target=check) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 8
    assert secrets.calls == 2


def test_refresh_without_a_key_handed_out_reads_within_the_bound() -> None:
    secrets = FakeSecretsClient({"a": "key-a-000000"})
    keys = SecretsKeyStore(secrets, SECRET, rereads_per_run=1)
    assert keys.refresh("a", RUN) == "key-a-000000"
    assert keys.refresh("a", RUN) == "key-a-000000"
    assert keys.refresh("missing", RUN) is None
    assert secrets.calls == 1


# --- what a key may hold -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["sk_live_0000\n0000", "sk_live\r\n0000", "sk_live\x00abc", "sk_live\tabc", "sk_\u2028live", "sk_€_live"],
    ids=["newline", "crlf-inside", "nul", "tab", "line-separator", "euro"],
)
def test_a_key_a_header_cannot_carry_is_a_config_error_naming_the_field_never_the_value(value: str) -> None:
    secrets = FakeSecretsClient({"cloudlayer-prod": value})
    keys = SecretsKeyStore(secrets, SECRET)
    with pytest.raises(KeyUnavailable) as caught:
        keys.get("cloudlayer-prod")
    assert caught.value.kind is ErrorKind.CONFIG
    assert caught.value.message.startswith(f"field 'cloudlayer-prod' of secret '{SECRET}' holds a line break")
    assert value.strip() not in caught.value.message

    snapshot = fetch_snapshot(monitor(), CLOUDLAYER, keys, OnlyKey(value), RUN)
    assert snapshot.error is not None
    assert snapshot.error.kind is ErrorKind.CONFIG
    assert value.strip()[:6] not in snapshot.error.message
    assert snapshot.error.message.count("cloudlayer-prod' of secret") == 1  # said once


def test_a_key_with_spaces_inside_is_a_key() -> None:
    keys = SecretsKeyStore(FakeSecretsClient({"f": "  part-one part-two  "}), SECRET)
    assert keys.get("f") == "part-one part-two"


@pytest.mark.parametrize("key", ["sk_live_0000\n0000", "sk_live_\u20ac_0000", "sk_live_\u200b0000"])
def test_the_real_client_never_makes_a_bad_key_an_internal_error(key: str, serve: Serve, client: HttpClient) -> None:
    fake = serve(fake_cloudlayer.API, key, always(Reply(200, fake_cloudlayer.LIMIT_PLAN)))
    snapshot = fetch_snapshot(
        Monitor(id="m", provider="cloudlayer", secret_field="cl", base_url=fake.base_url),
        CLOUDLAYER,
        OneKey(key),
        client,
        RUN,
    )
    assert snapshot.error is not None
    assert snapshot.error.kind is ErrorKind.CONFIG
    assert f"field 'cl' of secret '{SECRET}'" in snapshot.error.message
    assert "sk_live" not in snapshot.error.message
    assert fake.requests == []  # never sent


def test_the_http_clients_refusal_of_a_key_names_the_field() -> None:
    """The HTTP client may refuse a key first; which field it is, fetching adds."""

    class Refuses:
        def fetch(self, request: HttpRequest) -> HttpAnswer:
            raise CheckFailed(ErrorKind.CONFIG, "the API key contains characters an HTTP header cannot carry")

    class NotFound:
        def fetch(self, request: HttpRequest) -> HttpAnswer:
            raise CheckFailed(ErrorKind.CONFIG, "api.cloudlayer.io has no usage endpoint at this address (404)")

    keys = OneKey("sk_live_plain_0000")
    refused = fetch_snapshot(monitor("cl"), CLOUDLAYER, keys, Refuses(), RUN).error
    assert refused is not None
    assert refused.kind is ErrorKind.CONFIG
    assert refused.message.endswith(f"cannot carry; check field 'cl' of secret '{SECRET}'")
    not_found = fetch_snapshot(monitor("cl"), CLOUDLAYER, keys, NotFound(), RUN).error
    assert not_found is not None
    assert "secret" not in not_found.message  # a wrong address is not the key's fault


# --- over real HTTP: moto's server as Secrets Manager --------------------------------------------


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with embedded_aws() as embedded:
        yield embedded


class Counting:
    """A boto3 client whose get_secret_value calls are counted."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls = 0

    def get_secret_value(self, **kwargs: Any) -> Any:
        self.calls += 1
        return self.client.get_secret_value(**kwargs)


def test_rotations_against_secrets_manager_over_http(aws: EmbeddedAws, serve: Serve, client: HttpClient) -> None:
    aws.reset()
    boto = aws.client("secretsmanager")
    boto.create_secret(Name=SECRET, SecretString=json.dumps({"cloudlayer-prod": "cl-live-v1-000000"}))
    secrets = Counting(boto)
    keys = SecretsKeyStore(secrets, SECRET)
    fake: FakeProvider = serve(fake_cloudlayer.API, "cl-live-v1-000000", always(Reply(200, fake_cloudlayer.LIMIT_PLAN)))
    cloudlayer = Monitor(
        id="cloudlayer-prod", provider="cloudlayer", secret_field="cloudlayer-prod", base_url=fake.base_url
    )

    assert fetch_snapshot(cloudlayer, CLOUDLAYER, keys, client, RUN).ok
    assert fetch_snapshot(cloudlayer, CLOUDLAYER, keys, client, NEXT_RUN).ok
    assert secrets.calls == 1  # warm: no call

    for version in ("v2", "v3"):  # twice in one run
        fake.valid_key = f"cl-live-{version}-000000"
        boto.put_secret_value(SecretId=SECRET, SecretString=json.dumps({"cloudlayer-prod": fake.valid_key}))
        snapshot = fetch_snapshot(cloudlayer, CLOUDLAYER, keys, client, NEXT_RUN + timedelta(minutes=15))
        assert snapshot.ok, snapshot.error
    assert secrets.calls == 3

    boto.put_secret_value(SecretId=SECRET, SecretString=json.dumps({"cloudlayer-prod": "cl-live\n-v4"}))
    fake.valid_key = "cl-live-v5-000000"  # the old key is rejected; the new value is unusable
    snapshot = fetch_snapshot(cloudlayer, CLOUDLAYER, keys, client, NEXT_RUN + timedelta(minutes=30))
    assert snapshot.error is not None
    assert snapshot.error.kind is ErrorKind.AUTH  # the rejection stands; the re-read found nothing better
    assert "cl-live" not in snapshot.error.message


def test_every_key_tried_is_masked_out_of_the_error() -> None:
    secrets = FakeSecretsClient({"cloudlayer-prod": "key-old-0123456789"})
    keys = SecretsKeyStore(secrets, SECRET)
    keys.get("cloudlayer-prod")
    secrets.keys["cloudlayer-prod"] = "key-new-0123456789"
    seen: list[str] = []

    class RejectsAndRemembers:
        def fetch(self, request: HttpRequest) -> HttpAnswer:
            headers = request.headers
            seen.append(headers["X-API-Key"])
            raise CheckFailed(ErrorKind.AUTH, f"rejected {' and '.join(seen)}", 401, None)

    error = fetch_snapshot(monitor(), CLOUDLAYER, keys, RejectsAndRemembers(), RUN).error
    assert seen == ["key-old-0123456789", "key-new-0123456789"]
    assert error is not None
    assert error.message.startswith("cloudlayer-prod: rejected [redacted] and [redacted]; check field")
