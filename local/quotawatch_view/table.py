"""Where the table is: a deployed stack's CloudFormation outputs, or the local stack of `make up`.

`--stack NAME` asks CloudFormation (with the caller's credentials, region and, as boto3
always does, AWS_ENDPOINT_URL) for the stack's TableName output. Without it the local stack
that `make up` described in .quotawatch-local/stack.json is used, by the same path: its
endpoint and stack name, then DescribeStacks there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from quotawatch.adapters.store import DynamoStore
from quotawatch_view.errors import ViewError

LOCAL_STATE = Path(".quotawatch-local") / "stack.json"
MONITORS_FILE = Path("functions") / "check_usage" / "monitors.yaml"
TABLE_OUTPUT = "TableName"
# The source tree this package runs from (layers/quotawatch/local/quotawatch_view/table.py).
SOURCE_ROOT = Path(__file__).resolve().parents[4]


@dataclass(frozen=True)
class Table:
    store: DynamoStore
    where: str  # for headings: "stack 'x' in eu-west-1", "the local stack 'y'"
    session: boto3.session.Session | None = None  # the credentials it was opened with
    endpoint: str | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)  # the stack's CloudFormation outputs

    def function(self, output: str) -> tuple[Any, str]:
        """A Lambda client and the name of the stack's function its `output` names."""
        if self.session is None or output not in self.outputs:
            raise ViewError(f"{self.where} has no {output} output: is it a QuotaWatch stack?")
        # A check run may take the function's whole timeout (15 minutes at most).
        config = Config(read_timeout=900, retries={"max_attempts": 1})
        return self.session.client("lambda", endpoint_url=self.endpoint, config=config), self.outputs[output]

    def caller(self) -> str:
        """Who is acting on it: the caller's AWS identity (STS GetCallerIdentity), by ARN."""
        if self.session is None:
            return "unknown"
        try:
            sts: Any = self.session.client("sts", endpoint_url=self.endpoint)
            return str(sts.get_caller_identity()["Arn"])
        except (ClientError, BotoCoreError) as exc:
            raise ViewError(f"cannot tell who you are (STS GetCallerIdentity): {describe_failure(exc)}") from None


def open_table(stack: str | None, state_file: Path | None = None) -> Table:
    """The table of `stack` in the caller's AWS account, or of the running local stack."""
    if stack is not None:
        session = boto3.session.Session()
        region = session.region_name or "no region"
        store, outputs = _store(session, stack, None)
        return Table(store, f"stack '{stack}' in {region}", session, outputs=outputs)
    state = state_file or find_upwards(LOCAL_STATE)
    if state is None or not state.exists():
        raise ViewError("no local stack is running (start it with `make up`); for a deployed one, pass --stack NAME")
    try:
        local = json.loads(state.read_text())
        endpoint, name = str(local["endpoint_url"]), str(local["name"])
    except (OSError, ValueError, KeyError) as exc:
        raise ViewError(f"{state}: not a local stack description ({type(exc).__name__}); restart `make up`") from None
    # The embedded AWS (moto) takes any credentials: these are its test ones, never real.
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106
        region_name="us-east-1",
    )
    store, outputs = _store(session, name, endpoint)
    return Table(store, f"the local stack '{name}'", session, endpoint, outputs)


def _store(session: boto3.session.Session, stack: str, endpoint: str | None) -> tuple[DynamoStore, dict[str, str]]:
    # A local stack answers at once or not at all (`make up` stopped): one retry is enough.
    config = Config(retries={"mode": "standard", "max_attempts": 2}) if endpoint else None
    try:
        cloudformation: Any = session.client("cloudformation", endpoint_url=endpoint, config=config)
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described[0].get("Outputs", [])} if described else {}
        dynamodb: Any = session.client("dynamodb", endpoint_url=endpoint, config=config)
    except NoRegionError:
        raise ViewError("no AWS region: set AWS_REGION or run `aws configure`") from None
    except NoCredentialsError:
        raise ViewError("no AWS credentials: run `aws configure` or set AWS_PROFILE") from None
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        if "does not exist" in message:
            raise ViewError(f"no stack named '{stack}' in this account and region") from None
        raise ViewError(f"cannot describe stack '{stack}': {describe_failure(exc)}") from None
    except BotoCoreError as exc:
        where = f" at {endpoint} (is `make up` still running?)" if endpoint else ""
        raise ViewError(f"cannot reach CloudFormation{where}: {describe_failure(exc)}") from None
    if TABLE_OUTPUT not in outputs:
        raise ViewError(f"stack '{stack}' has no {TABLE_OUTPUT} output: is it a QuotaWatch stack?")
    return DynamoStore(dynamodb, outputs[TABLE_OUTPUT]), outputs


def describe_failure(exc: Exception) -> str:
    """An AWS failure in one line: its code and message, never a traceback."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip().rstrip(":")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def find_upwards(relative: Path) -> Path | None:
    """`relative` in the current directory or one above it, else in the source tree."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents, SOURCE_ROOT):
        if (folder / relative).exists():
            return folder / relative
    return None
