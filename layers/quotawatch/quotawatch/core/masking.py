"""Masking API keys out of text: the one rule for every text that leaves a check.

A provider may echo a key whole, in part (cut to a length), split at spaces, or as a name.
So a key is masked wherever any 8 characters of it appear in a row, not only where it
appears whole; a key shorter than that is masked where it stands whole. Masking happens
before any text is cut to length: a cut-off key would no longer match. The guarantee,
checked by property tests: after `mask` (and after `mask_and_cut` at any limit) no run of
8 characters of a key, and no short key, is left in the text. Hand-written because no
library masks partial occurrences.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

MASK = "[redacted]"
# Any run of this many characters of a key is taken to identify it. Shorter runs are too
# common in ordinary text (and too little of a key to matter) to mask.
RECOGNISABLE = 8
ELLIPSIS = "..."

# Markers for keys that would show through MASK itself (a key containing "[", "]" or
# "redacted"): the first one that no key can form a run with is used.
_BRACKETED = (("[", "]"), ("<", ">"), ("{", "}"), ("(", ")"))
_WORD = "redacted"
# A stretch of key characters longer than this is searched before it is scanned.
_LONG_STRETCH = 256


def mask(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every recognisable part of each secret replaced by a marker (MASK)."""
    forms = _forms(secrets)
    if not forms or not text:
        return text
    spans = _hidden(text, forms)
    if not spans:
        return text
    marker = _prepared(forms)[2]
    out: list[str] = []
    at = 0
    for start, end in spans:
        out.append(text[at:start])
        out.append(marker)
        at = end
    out.append(text[at:])
    return "".join(out)


def mask_and_cut(text: str, secrets: Iterable[str | None], limit: int) -> str:
    """On one line, masked, then at most `limit` characters (cut with an ellipsis).

    Whitespace is made single first: joining two spaces into one must not be what makes
    a key (with a space in it) whole again after it was masked.
    """
    forms = _forms(secrets)
    one_line = mask(" ".join(text.split()), forms)
    if len(one_line) <= limit:
        return one_line
    # The ellipsis is left out if a key holds a dot: "...", after the text's last
    # characters, could then complete a run of the key.
    ellipsis = "" if any(c in form for form in forms for c in ELLIPSIS) else ELLIPSIS
    if limit <= len(ellipsis):
        return one_line[: max(limit, 0)]
    return one_line[: limit - len(ellipsis)].rstrip() + ellipsis


def _forms(secrets: Iterable[str | None]) -> tuple[str, ...]:
    """Each secret as sent and as a provider may print it: whitespace and unprintables made
    single spaces (the providers' normalising), so that such a text still matches."""
    forms: list[str] = []
    for secret in secrets:
        if not secret:
            continue
        printable = "".join(c if c.isprintable() else " " for c in secret)
        for form in (secret, " ".join(secret.split()), " ".join(printable.split())):
            if form and form not in forms:
                forms.append(form)
    return tuple(forms)


def _hidden(text: str, forms: tuple[str, ...]) -> list[tuple[int, int]]:
    """The spans of `text` to hide, sorted and merged."""
    grams, stretches, _ = _prepared(forms)
    spans: list[tuple[int, int]] = []
    if stretches is not None:
        # Only stretches made of the keys' characters can hold a run of a key; finding them
        # is one pass in C, which keeps masking fast on long texts that hold no key.
        for stretch in stretches.finditer(text):
            i, end = stretch.span()
            if end - i > _LONG_STRETCH:
                # Long stretches (hex or base64 text): look at the part between the first
                # and the last run of a key only, found by C-speed searches.
                hits = [at for gram in grams if (at := text.find(gram, i, end)) != -1]
                if not hits:
                    continue
                i = min(hits)
                end = max(text.rfind(gram, i, end) for gram in grams) + RECOGNISABLE
            while i <= end - RECOGNISABLE:
                found = grams.get(text[i : i + RECOGNISABLE])
                if found is None:
                    i += 1
                    continue
                # Where the rest of the key follows, hide it in one step (a key echoed
                # many times costs one step per copy, not one per character).
                form, offset = found
                if text.startswith(form[offset:], i) and len(form) - offset > RECOGNISABLE:
                    spans.append((i, i + len(form) - offset))
                    i += len(form) - offset - RECOGNISABLE + 1
                else:
                    spans.append((i, i + RECOGNISABLE))
                    i += 1
    for form in forms:  # a short key is masked where it stands whole
        if len(form) < RECOGNISABLE:
            start = text.find(form)
            while start != -1:
                spans.append((start, start + len(form)))
                start = text.find(form, start + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


@lru_cache(maxsize=64)
def _prepared(forms: tuple[str, ...]) -> tuple[dict[str, tuple[str, int]], re.Pattern[str] | None, str]:
    """For a set of keys: each run of a key (with where it starts in which form), the pattern
    of stretches that can hold a run, and the marker. Cached: every text of a check is
    masked with the same key."""
    grams: dict[str, tuple[str, int]] = {}
    for form in forms:
        for offset in range(len(form) - RECOGNISABLE + 1):
            grams.setdefault(form[offset : offset + RECOGNISABLE], (form, offset))
    stretches = None
    if grams:
        chars = "".join(sorted({c for gram in grams for c in gram}))
        stretches = re.compile(f"[{''.join(re.escape(c) for c in chars)}]{{{RECOGNISABLE},}}")
    return grams, stretches, _marker(forms)


def _marker(forms: tuple[str, ...]) -> str:
    """MASK, unless a key could show through it; then a marker no run of any key can touch.

    Any run of text that overlaps a marker holds one of its brackets or is its word, so a
    bracketed marker is safe when no key holds either bracket or the word (and no short key
    is part of the word). A marker of a character no key holds is always safe.
    """
    for opening, closing in _BRACKETED:
        if all(opening not in f and closing not in f and _WORD not in f and f not in _WORD for f in forms):
            return opening + _WORD + closing
    used = {c for form in forms for c in form}
    candidates = ("*", "#", "~", *(chr(code) for code in range(0xE000, 0xF900)))
    char = next(c for c in candidates if c not in used)
    return char * 3
