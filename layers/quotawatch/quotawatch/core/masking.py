"""Masking API keys out of text: the one rule for every text that leaves a check.

A provider may echo a key whole, in part (cut to a length), split at spaces, or as a name.
So a key is masked wherever any 8 characters of it appear in a row, not only where it
appears whole, and masking happens before any text is cut to length: a cut-off key would
no longer match. Hand-written because no library masks partial occurrences.
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "[redacted]"
# Any run of this many characters of a key is taken to identify it. Shorter runs are too
# common in ordinary text (and too little of a key to matter) to mask.
RECOGNISABLE = 8


def mask(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every recognisable part of each secret replaced by MASK."""
    keys = [s for s in secrets if s]
    if not keys or not text:
        return text
    grams: set[str] = set()
    for key in keys:
        grams.update(key[i : i + RECOGNISABLE] for i in range(len(key) - RECOGNISABLE + 1))
    hidden = [False] * len(text)
    for key in keys:  # a short key is masked where it stands whole
        if len(key) < RECOGNISABLE:
            start = text.find(key)
            while start != -1:
                hidden[start : start + len(key)] = [True] * len(key)
                start = text.find(key, start + 1)
    if grams:
        for i in range(len(text) - RECOGNISABLE + 1):
            if text[i : i + RECOGNISABLE] in grams:
                hidden[i : i + RECOGNISABLE] = [True] * RECOGNISABLE
    if not any(hidden):
        return text
    out: list[str] = []
    for i, char in enumerate(text):
        if not hidden[i]:
            out.append(char)
        elif i == 0 or not hidden[i - 1]:
            out.append(MASK)
    return "".join(out)


def mask_and_cut(text: str, secrets: Iterable[str | None], limit: int) -> str:
    """Masked, then on one line and at most `limit` characters (with an ellipsis)."""
    one_line = " ".join(mask(text, secrets).split())
    if len(one_line) <= limit:
        return one_line
    return one_line[: max(limit - 3, 0)].rstrip() + "..."
