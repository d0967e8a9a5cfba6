"""`aws lambda invoke` for the quick-start test: the embedded AWS keeps functions but runs
none (moto would need Docker), so this stands in for Lambda's invoke, as the local Lambda
service stands in for Lambda everywhere else. Every other `aws` command goes to the real
AWS CLI. Run as: python -m tests.integration.lambda_invoke lambda invoke --function-name
NAME --payload file://EVENT [--cli-binary-format raw-in-base64-out] OUTFILE
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from quotawatch_local.lambda_service import LocalLambda
from quotawatch_local.local_stack import LocalStack

STACK_FILE = "QW_STACK_FILE"  # where the test saved the local stack's description


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="aws lambda invoke")
    parser.add_argument("service", choices=["lambda"])
    parser.add_argument("operation", choices=["invoke"])
    parser.add_argument("--function-name", required=True)
    parser.add_argument("--payload", required=True)
    parser.add_argument("--cli-binary-format", choices=["raw-in-base64-out"], required=True)
    parser.add_argument("outfile")
    args = parser.parse_args(argv)
    payload = args.payload
    if payload.startswith("file://"):
        payload = Path(payload.removeprefix("file://")).read_text(encoding="utf-8")
    stack = LocalStack.load(Path(os.environ[STACK_FILE]))
    with LocalLambda(stack) as service:
        invocation = service.invoke(args.function_name, json.loads(payload))
    answer = invocation.error if invocation.error else invocation.result
    Path(args.outfile).write_text(json.dumps(answer), encoding="utf-8")
    status = {"StatusCode": 200, **({"FunctionError": "Unhandled"} if invocation.error else {})}
    print(json.dumps({**status, "ExecutedVersion": "$LATEST"}, indent=4))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
