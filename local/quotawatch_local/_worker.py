"""A warm Lambda "container" for one function: import the handler once, serve events.

Protocol: one JSON request per line on stdin, one JSON reply per line on the original
stdout. Everything the handler prints or logs goes to stderr, as Lambda sends it to logs.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any


class LocalContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(self, timeout_s: int) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def main() -> None:
    # The function sees its code, its layers and the runtime's packages, as in Lambda: not
    # this tool's folder, nor source folders a development .pth file adds.
    allowed = set(os.environ.get("PYTHONPATH", "").split(os.pathsep))
    runtime = (sys.prefix, sys.base_prefix)
    sys.path[:] = [p for p in sys.path[1:] if p in allowed or p.startswith(runtime)]
    handler_path, timeout_s = sys.argv[1], int(sys.argv[2])
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the handler's stdout (Powertools logs) becomes log output
    sys.stdout = sys.stderr

    module_name, function_name = handler_path.rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), function_name)

    for line in sys.stdin:
        request = json.loads(line)
        reply: dict[str, Any]
        try:
            result = handler(request["event"], LocalContext(timeout_s))
            reply = {"result": result}
        except Exception as exc:  # reported like Lambda's errorType/errorMessage
            traceback.print_exc()
            stack = [line.rstrip("\n") for line in traceback.format_tb(exc.__traceback__)]
            reply = {"error": {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": stack}}
        sys.stderr.write(f"{request['marker']}\n")
        sys.stderr.flush()
        replies.write(json.dumps(reply, default=str) + "\n")


if __name__ == "__main__":
    main()
