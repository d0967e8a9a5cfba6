"""Test-wide settings.

Property-based tests explore new examples on every run on a developer's machine. On CI
(CI=true) they replay a fixed sequence instead, so that a landed change is judged on the
same examples each time; a counterexample found locally is kept as an explicit @example.

The fake providers serve https with a test CA made for this process. The HTTP client trusts
it through QUOTAWATCH_CA_BUNDLE, set here before any test makes a client (the client loads
its trust once), and inherited by every process a test starts.

Bytecode is written (to __pycache__, as Python does by default) even where the machine sets
PYTHONDONTWRITEBYTECODE: otherwise every xdist worker and every process a test starts (the
CLI, the demo, each warm Lambda environment) compiles the project's modules again, and
pytest rewrites every test module again. xdist's workers start after this file is read, so
they and every process they start inherit the change. The local Lambda environments keep
Lambda's read-only code and write nothing, so the project's code is compiled here once
(a third of a second the first time) for them to read.
"""

from __future__ import annotations

import compileall
import os
import sys
from pathlib import Path

from hypothesis import settings

from quotawatch_local.fakes import tls

os.environ[tls.CA_BUNDLE_VARIABLE] = tls.ca_bundle()
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False
if "PYTEST_XDIST_WORKER" not in os.environ:
    for code in ("layers", "functions", "local"):
        compileall.compile_dir(Path(__file__).resolve().parents[1] / code, quiet=1)

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")
