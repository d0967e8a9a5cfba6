"""Test-wide settings.

Property-based tests explore new examples on every run on a developer's machine. On CI
(CI=true) they replay a fixed sequence instead, so that a landed change is judged on the
same examples each time; a counterexample found locally is kept as an explicit @example.

The fake providers serve https with a test CA made for this process. The HTTP client trusts
it through QUOTAWATCH_CA_BUNDLE, set here before any test makes a client (the client loads
its trust once), and inherited by every process a test starts.
"""

from __future__ import annotations

import os

from hypothesis import settings

from quotawatch_local.fakes import tls

os.environ[tls.CA_BUNDLE_VARIABLE] = tls.ca_bundle()

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")
