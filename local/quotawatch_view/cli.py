"""The `quotawatch` command on a person's machine: the layer's commands (fetch, providers,
check-config), the view's (status, history, report), the silences' (mute, unmute,
silences) and the invocations' (test-alert, check-now), which stay out of the Lambda layer."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from quotawatch import cli
from quotawatch_view import commands, invoking, silencing


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    return cli.main(argv, out, extensions=(commands, silencing, invoking))
