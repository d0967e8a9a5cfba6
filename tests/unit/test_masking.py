"""Keys never leak, not even in part: the masking rule, and every text a fetch produces.

The guarantee: after masking, no run of 8 characters of a key is left (RECOGNISABLE), and
a key shorter than that is not left whole. Property tests generate keys (spaces, unicode,
regex metacharacters, repeated characters, short keys) and texts that hold them whole, cut
at any point, split at their spaces, repeated and run into other text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from quotawatch.adapters.http import HttpClient
from quotawatch.config import Monitor
from quotawatch.core.masking import MASK, RECOGNISABLE, mask, mask_and_cut
from quotawatch.core.snapshot import CheckError, Condition, ErrorKind, Meter, Severity, Snapshot
from quotawatch.fetching import MESSAGE_CHARS, NAME_CHARS, fetch_snapshot, masked
from quotawatch.providers import PROVIDERS
from quotawatch.providers.base import declared_part
from quotawatch_local.fakes import Reply, always
from quotawatch_local.fakes import cloudlayer as fake_cloudlayer
from quotawatch_local.fakes import converra as fake_converra
from quotawatch_local.fakes import imagerouter as fake_imagerouter
from quotawatch_local.fakes import tornado as fake_tornado
from tests.unit.support import OneKey, Serve


def forms(key: str) -> list[str]:
    """The key, and the key as a provider may print it (whitespace and unprintables single spaces)."""
    printable = "".join(c if c.isprintable() else " " for c in key)
    return [f for f in {key, " ".join(key.split()), " ".join(printable.split())} if f.strip()]


def leaks(text: str, key: str) -> list[str]:
    """Every run of the key (or the short key whole) that `text` still holds."""
    found = []
    for form in forms(key):
        if len(form) < RECOGNISABLE:
            found += [form] if form in text else []
        else:
            runs = (form[i : i + RECOGNISABLE] for i in range(len(form) - RECOGNISABLE + 1))
            found += [run for run in runs if run in text]
    return found


def texts_of(snapshot: Snapshot) -> list[str]:
    """Every text of a snapshot as stored (checked one by one: JSON would escape some characters)."""
    data = snapshot.to_dict()
    texts = [t for m in data["meters"] for t in (m["name"], m["unit"])]  # units are the modules' own
    texts += [t for c in data["conditions"] for t in (c["name"], c["message"])]
    return texts + ([data["error"]["message"]] if data["error"] else [])


# --- keys and texts --------------------------------------------------------------------------

_TRICKY = "ab .*+?()[]{}|^$\\-redacted#~<>\t\n\u00a0\u2003é漢字🔑"
keys = st.one_of(
    st.text(min_size=1, max_size=60),  # any unicode
    st.text(alphabet=_TRICKY, min_size=1, max_size=40),  # metacharacters, markers, spaces
    st.text(alphabet="0123456789abcdef_ ", min_size=1, max_size=50),  # key-like, with spaces
    st.builds(lambda c, n: c * n, st.characters(), st.integers(1, 40)),  # one character repeated
    st.text(min_size=1, max_size=RECOGNISABLE - 1),  # short keys
    st.sampled_from(["[redacted]", "x[redacted]y", "redacted", "act", "...", "a.b.c.d.e.f", "sk_live_" + "9f8e" * 8]),
).filter(lambda key: key.strip() != "")

filler = st.text(max_size=30) | st.sampled_from(["", " ", "Invalid API key: ", "...", MASK, "\n\t "])


@st.composite
def pieces_of(draw: st.DrawFn, key: str) -> str:
    """One way a provider may echo the key."""
    cut_a = draw(st.integers(0, len(key)))
    cut_b = draw(st.integers(cut_a, len(key)))
    return draw(
        st.sampled_from(
            [
                key,  # whole
                key[cut_a:],  # cut at the front
                key[:cut_b],  # cut at the back
                key[cut_a:cut_b],  # any part
                " ".join(key.split()),  # whitespace made single
                key * 3,  # repeated, run together
                "\n".join(key.split()),  # split at its spaces, on lines
            ]
        )
    )


@st.composite
def texts_with(draw: st.DrawFn, key: str) -> str:
    parts = draw(st.lists(st.one_of(filler, pieces_of(key)), min_size=1, max_size=6))
    return "".join(parts)


@st.composite
def key_and_text(draw: st.DrawFn) -> tuple[str, str]:
    key = draw(keys)
    return key, draw(texts_with(key))


# --- the rule, as properties -------------------------------------------------------------------


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key_and_text())
@example(("x[redacted]yz0123", "x[redacted]yz0123"))  # a key that holds the marker
@example(("act", "act now"))  # a short key inside the marker's word
@example(("abcd efgh", "abcd  efgh"))  # two spaces that become one
def test_no_run_of_a_key_survives_masking(case: tuple[str, str]) -> None:
    key, text = case
    assert leaks(mask(text, [key]), key) == []


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key_and_text(), st.integers(0, 200))
@example(("zzzzz...", "zzzzzQQQ and more"), 8)  # the ellipsis must not complete the key
@example(("0123456789abcdef0123", "x " * 50 + "0123456789abcdef0123"), 110)  # a key across the cut
def test_no_run_of_a_key_survives_mask_and_cut_at_any_limit(case: tuple[str, str], limit: int) -> None:
    key, text = case
    out = mask_and_cut(text, [key], limit)
    assert leaks(out, key) == []
    assert len(out) <= max(limit, 0)
    assert "\n" not in out
    assert "  " not in out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="0123456789abcdef", min_size=8, max_size=48), st.data())
def test_no_run_of_a_key_survives_in_long_text_made_of_its_characters(key: str, data: st.DataObject) -> None:
    """Hex or base64 noise around the key: long stretches are searched before they are scanned."""
    noise = st.text(alphabet=sorted(set(key)), min_size=0, max_size=700)  # one long stretch
    parts = data.draw(st.lists(st.one_of(noise, pieces_of(key)), min_size=1, max_size=5))
    text = "".join(parts)
    assert leaks(mask(text, [key]), key) == []


@pytest.mark.parametrize(("start", "stop"), [(5, 13), (0, 32), (20, 32), (3, 30)])
def test_a_part_of_a_key_inside_a_long_stretch_is_masked(start: int, stop: int) -> None:
    key = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    noise = "0123456789abcdef" * 40  # one stretch of the key's characters, no run of it
    text = noise + key[start:stop] + noise
    assert mask(text, [key]) == noise + MASK + noise


@settings(max_examples=300, deadline=None)
@given(keys, keys, st.data())
def test_several_keys_are_all_masked(first: str, second: str, data: st.DataObject) -> None:
    text = data.draw(texts_with(first)) + data.draw(filler) + data.draw(texts_with(second))
    out = mask(text, [first, None, second, ""])
    assert leaks(out, first) == []
    assert leaks(out, second) == []


@settings(max_examples=300, deadline=None)
@given(keys, st.text(max_size=60))
def test_a_text_without_the_key_is_left_as_it_is(key: str, text: str) -> None:
    if leaks(text, key) or any(form in text for form in forms(key)):
        return  # holds some of the key after all
    assert mask(text, [key]) == text


# --- the rule, by example ----------------------------------------------------------------------

KEY = "sk_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Invalid API key {KEY}", "Invalid API key [redacted]"),
        (f"Invalid API key {KEY[:20]}...", "Invalid API key [redacted]..."),  # cut off by the provider
        (f"key ...{KEY[-9:]}", "key ...[redacted]"),  # only its end
        (f"key {KEY[:7]} only", f"key {KEY[:7]} only"),  # 7 characters identify nothing
        (f"{KEY}{KEY}", "[redacted]"),  # repeated, run together
        ("nothing here", "nothing here"),
    ],
)
def test_mask_examples(text: str, expected: str) -> None:
    assert mask(text, [KEY]) == expected


def test_a_key_with_spaces_is_masked_in_each_part_of_8_characters_or_more() -> None:
    key = "alpha-part-one beta two gamma-long-part"
    text = "alpha-part-one\nand beta, two and gamma-long-part and beta"
    # ' gamma-l' is a run of the key too: the space before the part goes with it
    assert mask(text, [key]) == "[redacted]\nand beta, two and[redacted] and beta"
    assert mask("so beta two is", [key]) == "so[redacted]is"  # ' beta two ' is 8 characters of it too


def test_a_short_key_is_masked_whole_and_never_through_the_marker() -> None:
    assert mask("key abc1 rejected", ["abc1"]) == "key [redacted] rejected"
    assert mask("act now", ["act"]) == "*** now"  # '[redacted]' would show 'act' again


def test_a_key_holding_the_marker_gets_another_marker() -> None:
    key = "x[abc]y-0123456789"
    assert mask(f"bad key {key}", [key]) == "bad key <redacted>"
    key = "x<redacted>y-0123456789"
    assert mask(f"bad key {key}", [key]) == "bad key ***"


def test_mask_and_cut_cuts_after_masking() -> None:
    text = "x" * 100 + " " + KEY  # the key straddles the 120th character
    assert mask_and_cut(text, [KEY], 120) == "x" * 100 + " [redacted]"
    assert mask_and_cut(text, [KEY], 105) == "x" * 100 + " [..."  # the marker may be cut, never the key
    assert mask_and_cut("  one\n two\t", [KEY], 120) == "one two"


def test_mask_and_cut_drops_the_ellipsis_when_a_key_holds_a_dot() -> None:
    key = "abcde...fgh"
    assert mask_and_cut("abcde" + "QQQQQQQQQQ", [key], 8) == "abcdeQQQ"


def test_masking_a_megabyte_is_quick() -> None:
    """Masking runs on every provider text; a 1 MB text is the largest a body can be."""
    import time

    words = ("usage ", "limit ", "reached ", "billing ", "information ", "subscription ")
    text = "".join(words[i % len(words)] for i in range(120_000))[:999_960] + KEY
    started = time.perf_counter()
    out = mask(text, [KEY])
    assert out.endswith(MASK)
    assert time.perf_counter() - started < 2.0  # about 15 ms on a laptop; generous for shared CI


# --- a snapshot's texts: names too, and unique -------------------------------------------------

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_masked_names_stay_unique_and_plain_names_keep_theirs() -> None:
    snapshot = Snapshot(
        "images",
        "imagerouter",
        NOW,
        meters=(
            Meter(f"key:{KEY}", 1, 5, 4, "USD"),
            Meter("key:[redacted]", 1, 5, 4, "USD"),  # a key the user named "[redacted]"
            Meter(f"key:{KEY[:30]}", 1, 5, 4, "USD"),
            Meter(f"key:{KEY} #2", 1, 5, 4, "USD"),
        ),
        conditions=(
            Condition(f"key_expiring:{KEY}", Severity.WARNING, f"API key '{KEY}' expires on 2026-12-01"),
            Condition(f"key_expiring:{KEY[5:]}", Severity.WARNING, f"API key '{KEY[5:]}' expires on 2026-12-02"),
        ),
    )
    out = masked(snapshot, [KEY])
    assert [m.name for m in out.meters] == [
        "key:[redacted] #2",
        "key:[redacted]",
        "key:[redacted] #3",
        "key:[redacted] #2 #2",
    ]
    assert [c.name for c in out.conditions] == ["key_expiring:[redacted]", "key_expiring:[redacted] #2"]
    assert out.conditions[0].message == "API key '[redacted]' expires on 2026-12-01"
    assert masked(snapshot, [KEY]) == out  # stable from one check to the next


def test_long_names_and_messages_are_cut_after_masking() -> None:
    name = "n" * (NAME_CHARS - 5) + KEY
    snapshot = Snapshot(
        "m",
        "tornado",
        NOW,
        meters=(Meter(name, 1, None, None, "GB"),),
        conditions=(Condition("billing_error", Severity.WARNING, "x" * (MESSAGE_CHARS - 4) + " " + KEY),),
    )
    out = masked(snapshot, [KEY])
    assert out.meters[0].name == "n" * (NAME_CHARS - 5) + "[r..."
    assert out.conditions[0].message == "x" * (MESSAGE_CHARS - 4) + "..."
    failed = masked(Snapshot.failed("m", "tornado", NOW, ErrorKind.AUTH, f"rejected {KEY}"), [KEY])
    assert failed.error == CheckError(ErrorKind.AUTH, "rejected [redacted]")


def test_what_a_provider_module_declares_of_a_name_is_never_masked() -> None:
    """A signal's name must not change with the key: "limit_exceeded" stays, even for a key
    that holds "exceeded"; of "key:<name>" only the provider's <name> is masked."""
    key = "key-converra-limit-exceeded-0123456789"
    snapshot = Snapshot(
        "converra-limit-exceeded",
        "converra",
        NOW,
        meters=(Meter("conversations", 1, None, None, "conversations"),),
        conditions=(Condition("limit_exceeded", Severity.CRITICAL, "Converra: limit exceeded-0123456789"),),
    )
    out = masked(snapshot, [key], PROVIDERS["converra"])
    assert [c.name for c in out.conditions] == ["limit_exceeded"]
    assert out.conditions[0].message == "Converra: limit [redacted]"
    assert masked(snapshot, [key]).conditions[0].name == "limit_[redacted]"  # undeclared: all of it is masked

    images = Snapshot(
        "images",
        "imagerouter",
        NOW,
        meters=(Meter(f"key:{KEY}", 1, 5, 4, "USD"), Meter("key:Production", 1, 5, 4, "USD")),
        conditions=(Condition(f"key_expiring:{KEY}", Severity.WARNING, "soon"),),
    )
    out = masked(images, ["another-key:0001", KEY], PROVIDERS["imagerouter"])
    assert [m.name for m in out.meters] == ["key:[redacted]", "key:Production"]
    assert [c.name for c in out.conditions] == ["key_expiring:[redacted]"]
    # a key that the declared prefix would complete: then the whole name is masked
    out = masked(images, ["ey:Produc"], PROVIDERS["imagerouter"])
    assert [m.name for m in out.meters] == [f"key:{KEY}", "k[redacted]tion"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_no_text_of_a_masked_snapshot_holds_a_run_of_the_key(data: st.DataObject) -> None:
    key = data.draw(keys)
    texts = st.one_of(texts_with(key), filler)
    snapshot = Snapshot(
        "m",
        "p",
        NOW,
        meters=tuple(Meter(data.draw(texts), 1, None, None, "USD") for _ in range(data.draw(st.integers(0, 4)))),
        conditions=tuple(
            Condition(data.draw(texts), Severity.INFO, data.draw(texts)) for _ in range(data.draw(st.integers(0, 4)))
        ),
        error=data.draw(st.none() | texts.map(lambda t: CheckError(ErrorKind.AUTH, t))),
    )
    provider = PROVIDERS[data.draw(st.sampled_from(sorted(PROVIDERS)))]
    out = masked(snapshot, [key], provider)
    declared = {m.name for m in out.meters if declared_part(m.name, provider.meter_names) == m.name}
    declared |= {c.name for c in out.conditions if declared_part(c.name, provider.condition_names) == c.name}
    shown = [t for t in texts_of(out) if t != "USD" and t not in declared]  # the module's own words
    assert [leaks(text, key) for text in shown] == [[] for _ in shown]
    originals = [m.name for m in snapshot.meters]
    if len(set(originals)) == len(originals):  # unique names stay unique
        assert len({m.name for m in out.meters}) == len(out.meters)


# --- end to end: each provider's fake echoes the key in every text it has ----------------------


def echo(key: str) -> str:
    """The key as a careless provider repeats it: whole after 100 characters (so that it
    straddles a cut at 120), cut at its front and its back, and twice in a row."""
    return f"{'x' * 100} {key} / {key[:20]} / {key[9:]} / {key}{key}"


def _imagerouter_keys(key: str, now: datetime) -> dict[str, Any]:
    soon = (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    entry = {
        **fake_imagerouter.PRODUCTION_KEY,
        "api_key_id": key,
        "api_key_name": key,
        "period_start": soon,
        "expires_at": soon,
        "spend_limit_period": echo(key),  # a window nobody knows: the figure as reported
    }
    return {
        **fake_imagerouter.CREDITS_ONLY,
        "usage_by_api_key": [
            entry,
            {**entry, "api_key_id": echo(key)},  # named the same: the id tells them apart
            {**entry, "api_key_name": echo(key)},
            {**entry, "api_key_name": key[:20], "api_key_id": key[:20]},
        ],
    }


def _echoing(provider: str, key: str, now: datetime) -> list[Reply]:
    """Every answer of `provider` that carries text, the text holding the key."""
    text = echo(key)
    if provider == "cloudlayer":
        return [
            Reply(200, {**fake_cloudlayer.LIMIT_PLAN, "subActive": False, "subscription": text, "email": text}),
            Reply(401, {"error": text, "message": text}),
            Reply(403, {"message": text}),
        ]
    if provider == "tornado":
        return [
            Reply(200, {**fake_tornado.STRIPE_KEY_BILLING_ERROR, "billing_error": text, "client_name": text}),
            Reply(200, {**fake_tornado.STRIPE_KEY, "billing_error": {"message": text}}),
            Reply(403, {"error": f"Storage quota exceeded for {text}"}),
            Reply(401, {"error": text}),
        ]
    if provider == "converra":
        details = {"resetAt": "2025-02-01T00:00:00Z"}
        return [
            Reply(429, {"error": {"code": "LIMIT_EXCEEDED", "message": text, "details": details}}),
            Reply(429, {"error": {"code": "RATE_LIMITED", "message": text}}, {"Retry-After": "1"}),
            Reply(401, {"error": {"code": "UNAUTHORIZED", "message": text}}),
        ]
    return [
        Reply(200, _imagerouter_keys(key, now)),
        Reply(401, {"error": {"message": text, "type": "authentication_error"}}),
        Reply(403, {"error": {"message": text, "type": "authentication_error"}}),
    ]


FAKES = {
    "cloudlayer": fake_cloudlayer.API,
    "tornado": fake_tornado.API,
    "converra": fake_converra.API,
    "imagerouter": fake_imagerouter.API,
}
ECHOED_KEYS = {
    "typical": "sk_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "long": "ir_" + "k7Q2" * 50,
    "with-spaces": "ab12cd34ef56 gh78ij90kl12 mn34op56",
    "metacharacters": "k.*+?^$()[]{}|\\-9f8e7d6c5b4a3928",
    "short": "k3y9zq",  # masked whole
}


@pytest.mark.parametrize("key", ECHOED_KEYS.values(), ids=ECHOED_KEYS.keys())
@pytest.mark.parametrize("provider", FAKES)
def test_no_snapshot_holds_a_run_of_a_key_its_provider_echoed(
    provider: str, key: str, serve: Serve, client: HttpClient
) -> None:
    now = datetime.now(UTC)
    for reply in _echoing(provider, key, now):
        fake = serve(FAKES[provider], key, always(reply))
        base_url = fake_converra.base_url_of(fake) if provider == "converra" else fake.base_url
        monitor = Monitor(id="m", provider=provider, secret_field="f", base_url=base_url)
        snapshot = fetch_snapshot(monitor, PROVIDERS[provider], OneKey(key), client, now)

        assert fake.requests, "the fake was asked"
        assert snapshot.error is not None or snapshot.conditions or snapshot.meters
        texts = texts_of(snapshot)
        assert [leaks(t, key) for t in texts] == [[] for _ in texts], (reply.status, texts)
        assert leaks(json.dumps(snapshot.to_dict()), key) == []
        assert len({m.name for m in snapshot.meters}) == len(snapshot.meters)
        assert len({c.name for c in snapshot.conditions}) == len(snapshot.conditions)
        assert all(PROVIDERS[provider].has_meter(m.name) for m in snapshot.meters)
        assert all(declared_part(c.name, PROVIDERS[provider].condition_names) for c in snapshot.conditions)
        assert all(len(t) <= MESSAGE_CHARS for t in texts)
        if len(key) < RECOGNISABLE:
            assert key not in json.dumps(snapshot.to_dict())
