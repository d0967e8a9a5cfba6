"""The `test-alert` and `check-now` subcommands of `quotawatch`: after a deploy, send the
test alert and run a check now, without copying a function name out of the stack.

Both find the check function as `status` finds the table (table.py: the stack's
CheckUsageFunctionName output, of `--stack NAME` or of the local stack of `make up`) and
invoke it through Lambda's Invoke API with the repo's own events: events/test-alert.json
and events/manual.json, exactly what `aws lambda invoke --payload file://...` would send.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from quotawatch_view.errors import ViewError
from quotawatch_view.table import describe_failure, find_upwards, open_table

CHECK_FUNCTION = "CheckUsageFunctionName"
TEST_ALERT = {"test_alert": True, "source": "manual"}  # events/test-alert.json
RUN_NOW = {"source": "manual"}  # events/manual.json: no tick, so not deduplicated against one


def register(commands: Any) -> None:
    test = commands.add_parser(
        "test-alert",
        help="send one clearly marked test message through every channel of a stack",
        description="Invokes the stack's check function with events/test-alert.json.",
    )
    test.add_argument("--stack", help="a deployed stack's name (default: the local stack of `make up`)")
    test.set_defaults(invoking=_test_alert)
    now = commands.add_parser(
        "check-now",
        help="run a check of every monitor now and print each one's outcome",
        description="Invokes the stack's check function with events/manual.json. "
        "Exit 0 when every monitor was read (or waits for its key), 1 otherwise.",
    )
    now.add_argument("--stack", help="a deployed stack's name (default: the local stack of `make up`)")
    now.add_argument("--json", action="store_true", help="print the function's result as it is")
    now.set_defaults(invoking=_check_now)


def run(args: argparse.Namespace, out: TextIO) -> int | None:
    command = getattr(args, "invoking", None)
    if command is None:
        return None
    try:
        code: int = command(args, out)
        return code
    except ViewError as exc:
        print(f"quotawatch {args.command}: {exc}", file=sys.stderr)
    except (ClientError, BotoCoreError) as exc:
        print(
            f"quotawatch {args.command}: invoking the check function failed: {describe_failure(exc)}", file=sys.stderr
        )
    return 1


def invoke_check(stack: str | None, event: dict[str, Any]) -> dict[str, Any]:
    """The check function's result for `event`; a function error is a ViewError."""
    client, name = open_table(stack).function(CHECK_FUNCTION)
    response = client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        error = payload if isinstance(payload, dict) else {}
        what = f"{error.get('errorType', 'error')}: {error.get('errorMessage', '')}".rstrip(": ")
        raise ViewError(f"the check function {name} failed ({what}); see its log")
    if not isinstance(payload, dict):
        raise ViewError(f"the check function {name} answered {type(payload).__name__}, not its result")
    return payload


def _test_alert(args: argparse.Namespace, out: TextIO) -> int:
    result = invoke_check(args.stack, _event("test-alert.json", TEST_ALERT))
    out.write(f"Test alert queued: {result.get('subject', '')}\n")
    out.write("It goes to every channel in a few seconds; nothing arrives? See the notify function's log.\n")
    return 0


def _check_now(args: argparse.Namespace, out: TextIO) -> int:
    result = invoke_check(args.stack, _event("manual.json", RUN_NOW))
    if args.json:
        out.write(json.dumps(result, indent=2) + "\n")
    else:
        out.write(outcome_text(result))
    return 0 if result.get("failed", 0) == 0 and result.get("status") != "in_progress" else 1


def outcome_text(result: dict[str, Any]) -> str:
    """One line per monitor: read (with its raised levels and messages), waiting, or failed."""
    status = result.get("status")
    if status == "dispatched":
        return f"Run dispatched to {result.get('shards', '?')} shards: `quotawatch status` shows the readings.\n"
    if status == "in_progress":
        return "Another invocation is checking right now: try again in a minute.\n"
    listed = result.get("monitors", result.get("attention", []))
    width = max((len(str(m.get("monitor", ""))) for m in listed), default=0)
    lines = [f"  {m.get('monitor', '')!s:<{width}}  {_outcome(m)}" for m in listed]
    if "attention" in result:
        lines.append(f"  (only those needing attention are listed, of {result.get('checked', 0)})")
    checked, failed, queued = result.get("checked", 0), result.get("failed", 0), result.get("queued", 0)
    head = f"Checked {checked} monitor{'s' * (checked != 1)}: {failed} failed, "
    head += f"{queued} message{'s' * (queued != 1)} queued."
    return "\n".join([head, *lines]) + "\n"


def _outcome(monitor: dict[str, Any]) -> str:
    status = monitor.get("status")
    error = monitor.get("error") or {}
    said = str(error.get("message", "")).removeprefix(f"{monitor.get('monitor')}: ")  # the line names it
    if status == "waiting":
        return said or "waiting for its key"
    if status != "ok":
        return f"failed ({error.get('kind', status)}): {said}"
    raised = [f"{signal} {level}" for signal, level in monitor.get("levels", {}).items() if level != "ok"]
    messages = [f"message: {q.get('subject', '')}" for q in monitor.get("queued", [])]
    return "; ".join(["ok" + (f", {', '.join(raised)}" if raised else ""), *messages])


def _event(name: str, fallback: dict[str, Any]) -> dict[str, Any]:
    """The repo's event file (so the command sends what the docs' `aws lambda invoke` sends)."""
    found = find_upwards(Path("events") / name)
    try:
        return dict(json.loads(found.read_text())) if found else fallback
    except (OSError, ValueError):
        return fallback
