"""Deploy the real template.yaml into the embedded AWS.

The SAM template is packaged (code folders zipped into the emulator's S3), transformed by
the SAM translator exactly as CloudFormation's transform would, and created as a stack by
moto's CloudFormation. The few resource types moto's CloudFormation cannot create (the
secret, SNS subscriptions, the schedule) are created beside the stack through their own
APIs from the same resource definitions, so the local account holds what AWS would.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quotawatch_local.cfn_yaml import load_template
from quotawatch_local.embedded_aws import ACCOUNT_ID, REGION, EmbeddedAws

ARTIFACT_BUCKET = "quotawatch-local-artifacts"
_SKIP_IN_ZIP = {"__pycache__", ".pytest_cache", ".mypy_cache"}


@dataclass
class LocalStack:
    aws: EmbeddedAws
    name: str
    template_path: Path
    template: dict[str, Any]
    transformed: dict[str, Any]
    parameters: dict[str, str]
    resources: dict[str, str] = field(default_factory=dict)  # logical id -> physical id
    outputs: dict[str, str] = field(default_factory=dict)
    beside: list[str] = field(default_factory=list)  # created beside the stack
    not_emulated: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        """Write what another process needs to use this stack (see `load`)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "endpoint_url": self.aws.endpoint_url,
                    "name": self.name,
                    "template_path": str(self.template_path),
                    "parameters": self.parameters,
                    "resources": self.resources,
                    "outputs": self.outputs,
                },
                indent=2,
            )
        )

    @classmethod
    def load(cls, path: Path) -> LocalStack:
        data = json.loads(path.read_text())
        template_path = Path(data["template_path"])
        return cls(
            aws=EmbeddedAws.attach(data["endpoint_url"]),
            name=data["name"],
            template_path=template_path,
            template=load_template(template_path),
            transformed={},
            parameters=data["parameters"],
            resources=data["resources"],
            outputs=data["outputs"],
        )

    def function_name(self, logical_id: str) -> str:
        return self.resources[logical_id]

    def source_dir(self, logical_id: str) -> Path:
        """Where a function's or layer's code lives in the repo (its CodeUri/ContentUri)."""
        props = self.template["Resources"][logical_id].get("Properties", {})
        uri = props.get("CodeUri") or props.get("ContentUri")
        return (self.template_path.parent / str(uri)).resolve()


def deploy(
    aws: EmbeddedAws,
    template_path: str | Path,
    stack_name: str = "quotawatch-local",
    parameters: dict[str, str] | None = None,
) -> LocalStack:
    template_path = Path(template_path).resolve()
    template = load_template(template_path)
    params = _parameter_values(template, parameters or {})

    packaged = json.loads(json.dumps(template))
    _package(aws, template_path.parent, packaged)

    transformed = _transform(packaged, params, stack_name)

    cfn = aws.client("cloudformation")
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(transformed),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = LocalStack(aws, stack_name, template_path, template, transformed, params)
    _read_back(stack)
    _create_beside(stack)
    return stack


def teardown(stack: LocalStack) -> None:
    stack.aws.client("cloudformation").delete_stack(StackName=stack.name)


def _parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    declared = template.get("Parameters", {})
    unknown = set(overrides) - set(declared)
    if unknown:
        raise ValueError(f"template.yaml has no parameter {sorted(unknown)[0]!r}")
    values = {name: str(spec.get("Default", "")) for name, spec in declared.items()}
    values.update({k: str(v) for k, v in overrides.items()})
    return values


def _pseudo_parameters(stack_name: str) -> dict[str, str]:
    return {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::StackName": stack_name,
        "AWS::URLSuffix": "amazonaws.com",
    }


def _transform(template: dict[str, Any], params: dict[str, str], stack_name: str) -> dict[str, Any]:
    """AWS::Serverless-2016-10-31 to plain CloudFormation, with SAM's own translator."""
    import boto3  # heavy imports only when deploying
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    session = boto3.session.Session(region_name=REGION)
    translator = Translator(None, Parser(), boto_session=session)
    # The translator asks IAM for AWS managed policy ARNs only when a template names one
    # by its short name; this template uses policy templates and inline statements.
    result: dict[str, Any] = translator.translate(
        template,
        parameter_values={**_pseudo_parameters(stack_name), **params},
        get_managed_policy_map=lambda: {},
    )
    return result


def _package(aws: EmbeddedAws, root: Path, template: dict[str, Any]) -> None:
    """Zip each local CodeUri/ContentUri into the emulator's S3, as `sam package` does."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            uri = props.get(key)
            if isinstance(uri, str) and not uri.startswith("s3://"):
                data = _zip_dir(root / uri)
                object_key = f"{logical_id}/{hashlib.sha256(data).hexdigest()[:16]}.zip"
                s3.put_object(Bucket=ARTIFACT_BUCKET, Key=object_key, Body=data)
                props[key] = f"s3://{ARTIFACT_BUCKET}/{object_key}"


def _zip_dir(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not _SKIP_IN_ZIP & set(path.parts):
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _read_back(stack: LocalStack) -> None:
    cfn = stack.aws.client("cloudformation")
    description = cfn.describe_stacks(StackName=stack.name)["Stacks"][0]
    status = description["StackStatus"]
    if status != "CREATE_COMPLETE":
        raise RuntimeError(f"local stack {stack.name} ended in {status}: {description.get('StackStatusReason', '')}")
    stack.outputs = {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack.name):
        for item in page["StackResourceSummaries"]:
            if item["LogicalResourceId"]:
                stack.resources[item["LogicalResourceId"]] = item["PhysicalResourceId"]


def _create_beside(stack: LocalStack) -> None:
    resolver = _Resolver(stack)
    for logical_id, resource in stack.transformed.get("Resources", {}).items():
        if logical_id in stack.resources:
            continue
        condition = resource.get("Condition")
        if condition and not resolver.condition(condition):
            continue
        kind = resource["Type"]
        props = resolver.resolve(resource.get("Properties", {}))
        creator = _CREATORS.get(kind)
        if creator is None:
            stack.not_emulated.append(f"{logical_id} ({kind})")
            continue
        stack.resources[logical_id] = creator(stack.aws, props)
        stack.beside.append(f"{logical_id} ({kind})")
    # Outputs that referred to resources created beside the stack.
    for name, output in stack.transformed.get("Outputs", {}).items():
        if name not in stack.outputs or stack.outputs[name] in ("", "None"):
            stack.outputs[name] = str(resolver.resolve(output["Value"]))


def _create_secret(aws: EmbeddedAws, props: dict[str, Any]) -> str:
    args = {"Name": props["Name"], "SecretString": props.get("SecretString", "{}")}
    if props.get("Description"):
        args["Description"] = props["Description"]
    return str(aws.client("secretsmanager").create_secret(**args)["ARN"])


def _create_subscription(aws: EmbeddedAws, props: dict[str, Any]) -> str:
    attributes: dict[str, str] = {}
    if "FilterPolicy" in props:
        policy = props["FilterPolicy"]
        attributes["FilterPolicy"] = policy if isinstance(policy, str) else json.dumps(policy)
        attributes["FilterPolicyScope"] = props.get("FilterPolicyScope", "MessageAttributes")
    response = aws.client("sns").subscribe(
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )
    return str(response["SubscriptionArn"])


def _create_schedule(aws: EmbeddedAws, props: dict[str, Any]) -> str:
    target = {
        k: v for k, v in props["Target"].items() if k in ("Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig")
    }
    args: dict[str, Any] = {
        "Name": props.get("Name") or "quotawatch-check",
        "ScheduleExpression": props["ScheduleExpression"],
        "FlexibleTimeWindow": props.get("FlexibleTimeWindow", {"Mode": "OFF"}),
        "Target": target,
    }
    if props.get("State"):
        args["State"] = props["State"]
    return str(aws.client("scheduler").create_schedule(**args)["ScheduleArn"])


def _create_queue_policy(aws: EmbeddedAws, props: dict[str, Any]) -> str:
    sqs = aws.client("sqs")
    for queue_url in props["Queues"]:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
    return ",".join(props["Queues"])


def _create_event_invoke_config(aws: EmbeddedAws, props: dict[str, Any]) -> str:
    args = {
        k: v
        for k, v in props.items()
        if k in ("FunctionName", "Qualifier", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
    }
    aws.client("lambda").put_function_event_invoke_config(**args)
    return f"{props['FunctionName']}:{props.get('Qualifier', '$LATEST')}"


_CREATORS = {
    "AWS::SecretsManager::Secret": _create_secret,
    "AWS::SNS::Subscription": _create_subscription,
    "AWS::Scheduler::Schedule": _create_schedule,
    "AWS::SQS::QueuePolicy": _create_queue_policy,
    "AWS::Lambda::EventInvokeConfig": _create_event_invoke_config,
}


class _Resolver:
    """Enough of CloudFormation's intrinsic functions for the resources created beside."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.values = {**_pseudo_parameters(stack.name), **stack.parameters}

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.stack.transformed.get("Conditions", {})[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::GetAtt":
                return self._get_att(*(arg.split(".", 1) if isinstance(arg, str) else arg))
            if fn == "Fn::Sub":
                return self._sub(arg)
            if fn == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            if fn == "Fn::Equals":
                left, right = self.resolve(arg)
                return str(left) == str(right)
            if fn == "Fn::Not":
                return not self.resolve(arg[0])
            if fn == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if fn == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if fn == "Fn::Join":
                separator, parts = arg
                return separator.join(str(p) for p in self.resolve(parts))
            if fn == "Condition":
                return self.condition(arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> str:
        if name in self.values:
            return self.values[name]
        if name in self.stack.resources:
            return self.stack.resources[name]
        raise KeyError(f"cannot resolve Ref {name} locally")

    def _get_att(self, logical_id: str, attribute: str) -> str:
        physical = self.stack.resources[logical_id]
        kind = self.stack.transformed["Resources"][logical_id]["Type"]
        if physical.startswith("arn:"):
            return physical
        if attribute == "Arn":
            if kind == "AWS::Lambda::Function":
                return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{physical}"
            if kind == "AWS::IAM::Role":
                return f"arn:aws:iam::{ACCOUNT_ID}:role/{physical}"
            if kind == "AWS::SQS::Queue":
                return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{physical.rsplit('/', 1)[-1]}"
        if attribute == "QueueUrl":
            return physical
        raise KeyError(f"cannot resolve GetAtt {logical_id}.{attribute} locally")

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in extra:
                return str(extra[name])
            if "." in name and not name.startswith("AWS::"):
                return self._get_att(*name.split(".", 1))
            return self._ref(name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)
