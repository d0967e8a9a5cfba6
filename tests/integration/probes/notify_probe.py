"""A stand-in for a function's handler, to test how the local Lambda service invokes it.

Stream records carry a message item whose JSON `probe` field says what to do with it:
"ok" (the default), "fail" (reported in batchItemFailures) or "crash" (the whole
invocation raises). Any other event raises when it has "crash": true, else is echoed.
"""

from __future__ import annotations

import json
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" not in event:
        if event.get("crash"):
            raise RuntimeError("the probe was told to crash")
        return {"received": event}
    failures = []
    for record in event["Records"]:
        message = json.loads(record["dynamodb"]["NewImage"]["message"]["S"])
        behaviour = message.get("probe", "ok")
        if behaviour == "crash":
            raise RuntimeError(f"crash on {message['subject']}")
        if behaviour == "fail":
            failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
    return {"batchItemFailures": failures}
