"""The check handler under cProfile, for `python bench/run.py --profile` (a stand-in handler).

Runs functions/check_usage/app.py's handler as the local runtime would, and writes each
warm invocation's profile to PROFILE_OUT (pstats), so that the CPU a run spends can be
read function by function. The first (cold) invocation is not profiled.
"""

from __future__ import annotations

import cProfile
import importlib
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions/check_usage"))
app = importlib.import_module("app")  # the check function's handler module, from its folder
_calls = 0


def handler(event: dict[str, Any], context: object) -> Any:
    global _calls
    _calls += 1
    if _calls == 1:
        return app.lambda_handler(event, context)
    profile = cProfile.Profile()
    result = profile.runcall(app.lambda_handler, event, context)
    profile.dump_stats(os.environ["PROFILE_OUT"])
    return result
