"""Test-wide settings.

Property-based tests explore new examples on every run on a developer's machine. On CI
(CI=true) they replay a fixed sequence instead, so that a landed change is judged on the
same examples each time; a counterexample found locally is kept as an explicit @example.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")
