"""Deploy the real template.yaml into the embedded AWS.

The SAM template is packaged (code folders zipped into the emulator's S3), transformed by
the SAM translator exactly as CloudFormation's transform would, and created as a stack by
moto's CloudFormation. The few resource types moto's CloudFormation cannot create (the
secret, SNS subscriptions, the schedule, queue policies, event-invoke configs, alarms) are
created beside the stack through their own APIs from the same resource definitions, so the
local account holds what AWS would. So is every resource that refers to one of those (the
EventBridge rule that names the alarms, and its invoke permission): moto's CloudFormation
would reject the reference.

moto would also invoke a stream's or a queue's mapped function itself on every write
(through Docker) and then drop the records; the local deploy detaches that, and the local
Lambda service (lambda_service.py) polls the stream and the queue the way Lambda does.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable
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
                    "transformed": self.transformed,
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
            transformed=data.get("transformed", {}),
            parameters=data["parameters"],
            resources=data["resources"],
            outputs=data["outputs"],
        )

    def function_name(self, logical_id: str) -> str:
        return self.resources[logical_id]

    def condition(self, name: str) -> bool:
        """A condition of the template, as deployed with this stack's parameters."""
        return _Resolver(self).condition(name)

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
    beside = _beside_the_stack(transformed)
    for_moto = {
        **transformed,
        "Resources": {k: v for k, v in transformed["Resources"].items() if k not in beside},
        "Outputs": {k: v for k, v in transformed.get("Outputs", {}).items() if not _references(v) & beside},
    }

    cfn = aws.client("cloudformation")
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(for_moto),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = LocalStack(aws, stack_name, template_path, template, transformed, params)
    _read_back(stack)
    _detach_moto_stream_invokers(aws)
    _create_beside(stack, beside)
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


def _references(node: Any) -> set[str]:
    """The logical ids and parameters a piece of template refers to (Ref, GetAtt, Sub)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value.split(".", 1)[0] if isinstance(value, str) else value[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {name.split(".", 1)[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
                if not isinstance(value, str):
                    found |= _references(value[1])
            else:
                found |= _references(value)
    return found


def _beside_the_stack(transformed: dict[str, Any]) -> set[str]:
    """Resources moto's CloudFormation cannot create, and every resource that refers to one."""
    resources = transformed.get("Resources", {})
    beside = {k for k, v in resources.items() if v["Type"] in _MOTO_LACKS}
    while True:
        more = {
            k
            for k, v in resources.items()
            if k not in beside
            and (_references(v.get("Properties", {})) | set(_as_list(v.get("DependsOn", [])))) & beside
        }
        if not more:
            return beside
        beside |= more


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _detach_moto_stream_invokers(aws: EmbeddedAws) -> None:
    """Stop moto from invoking a stream's (or a queue's) mapped function on every write.

    moto runs a mapped function itself (through Docker) whenever an item is written, and then
    forgets the stream's records. The mapping stays (list_event_source_mappings shows it, as
    AWS would); the local Lambda service reads the stream and invokes the function instead.
    moto's server runs in this process (embedded_aws), so its model is at hand.
    """
    if not aws.in_process:
        raise RuntimeError("deploy into an embedded AWS started by this process")
    from moto.dynamodb.models import dynamodb_backends
    from moto.sqs.models import sqs_backends

    for table in dynamodb_backends[ACCOUNT_ID][REGION].tables.values():
        table.lambda_event_source_mappings.clear()
    # The same for a queue's mapping: moto would receive and invoke on every SendMessage.
    for queue in sqs_backends[ACCOUNT_ID][REGION].queues.values():
        queue.lambda_event_source_mappings.clear()


def _create_beside(stack: LocalStack, beside: set[str]) -> None:
    resolver = _Resolver(stack)
    resources = stack.transformed.get("Resources", {})
    pending = [k for k in resources if k in beside and k not in stack.resources]
    while pending:
        # Those whose references are all known go first (alarms, then the rule naming them).
        ready = [k for k in pending if not (_references(resources[k].get("Properties", {})) & set(pending))]
        if not ready:
            raise RuntimeError(f"circular references among {pending}")
        for logical_id in ready:
            pending.remove(logical_id)
            resource = resources[logical_id]
            condition = resource.get("Condition")
            if condition and not resolver.condition(condition):
                continue
            kind = resource["Type"]
            creator = _CREATORS.get(kind)
            if creator is None:
                stack.not_emulated.append(f"{logical_id} ({kind})")
                continue
            props = resolver.resolve(resource.get("Properties", {}))
            stack.resources[logical_id] = creator(stack, logical_id, props)
            stack.beside.append(f"{logical_id} ({kind})")
    # Outputs that referred to resources created beside the stack.
    for name, output in stack.transformed.get("Outputs", {}).items():
        if output.get("Condition") and not resolver.condition(output["Condition"]):
            continue  # as CloudFormation: an output whose condition is false does not exist
        if name not in stack.outputs or stack.outputs[name] in ("", "None"):
            stack.outputs[name] = str(resolver.resolve(output["Value"]))


def _create_secret(stack: LocalStack, logical_id: str, props: dict[str, Any]) -> str:
    aws = stack.aws
    args = {"Name": props["Name"], "SecretString": props.get("SecretString", "{}")}
    if props.get("Description"):
        args["Description"] = props["Description"]
    return str(aws.client("secretsmanager").create_secret(**args)["ARN"])


def _create_subscription(stack: LocalStack, logical_id: str, props: dict[str, Any]) -> str:
    aws = stack.aws
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


def _create_schedule(stack: LocalStack, logical_id: str, props: dict[str, Any]) -> str:
    aws = stack.aws
    target = {
        k: v for k, v in props["Target"].items() if k in ("Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig")
    }
    args: dict[str, Any] = {
        # OmitName: CloudFormation makes a name up, one per schedule.
        "Name": props.get("Name") or _generated_name(stack, logical_id)[:64],
        "ScheduleExpression": props["ScheduleExpression"],
        "FlexibleTimeWindow": props.get("FlexibleTimeWindow", {"Mode": "OFF"}),
        "Target": target,
    }
    if props.get("State"):
        args["State"] = props["State"]
    if props.get("ScheduleExpressionTimezone"):
        args["ScheduleExpressionTimezone"] = props["ScheduleExpressionTimezone"]
    return str(aws.client("scheduler").create_schedule(**args)["ScheduleArn"])


def _create_queue_policy(stack: LocalStack, logical_id: str, props: dict[str, Any]) -> str:
    aws = stack.aws
    sqs = aws.client("sqs")
    for queue_url in props["Queues"]:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
    return ",".join(props["Queues"])


def _create_event_invoke_config(stack: LocalStack, logical_id: str, props: dict[str, Any]) -> str:
    aws = stack.aws
    args = {
        k: v
        for k, v in props.items()
        if k in ("FunctionName", "Qualifier", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
    }
    aws.client("lambda").put_function_event_invoke_config(**args)
    return f"{props['FunctionName']}:{props.get('Qualifier', '$LATEST')}"


def _generated_name(stack: LocalStack, logical_id: str) -> str:
    """A name as CloudFormation makes one up: stack, logical id, a random suffix."""
    return f"{stack.name}-{logical_id}-{uuid.uuid4().hex[:12].upper()}"


def _create_alarm(stack: LocalStack, logical_id: str, props: dict[str, Any]) -> str:
    name = props.get("AlarmName") or _generated_name(stack, logical_id)
    args: dict[str, Any] = {"AlarmName": name}
    for key in ("AlarmDescription", "Namespace", "MetricName", "Statistic", "ComparisonOperator", "TreatMissingData"):
        if key in props:
            args[key] = str(props[key])
    for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if key in props:
            args[key] = int(props[key])
    args["Threshold"] = float(props["Threshold"])
    args["Dimensions"] = [{"Name": d["Name"], "Value": str(d["Value"])} for d in props.get("Dimensions", [])]
    for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        if key in props:
            args[key] = props[key]
    if "ActionsEnabled" in props:
        args["ActionsEnabled"] = str(props["ActionsEnabled"]).lower() == "true"
    stack.aws.client("cloudwatch").put_metric_alarm(**args)
    return str(name)


def _create_rule(stack: LocalStack, logical_id: str, props: dict[str, Any]) -> str:
    name = props.get("Name") or _generated_name(stack, logical_id)
    events = stack.aws.client("events")
    args: dict[str, Any] = {"Name": name, "State": props.get("State", "ENABLED")}
    if "EventPattern" in props:
        pattern = props["EventPattern"]
        args["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    for key in ("ScheduleExpression", "Description", "EventBusName"):
        if key in props:
            args[key] = props[key]
    events.put_rule(**args)
    keys = ("Id", "Arn", "RoleArn", "Input", "InputPath", "InputTransformer", "RetryPolicy", "DeadLetterConfig")
    targets = [{k: v for k, v in target.items() if k in keys} for target in props.get("Targets", [])]
    if targets:
        events.put_targets(Rule=name, EventBusName=props.get("EventBusName", "default"), Targets=targets)
    return str(name)


def _create_permission(stack: LocalStack, logical_id: str, props: dict[str, Any]) -> str:
    args = {"FunctionName": props["FunctionName"], "StatementId": logical_id}
    args.update({k: props[k] for k in ("Action", "Principal", "SourceArn", "SourceAccount") if k in props})
    stack.aws.client("lambda").add_permission(**args)
    return logical_id


_CREATORS: dict[str, Callable[[LocalStack, str, dict[str, Any]], str]] = {
    "AWS::SecretsManager::Secret": _create_secret,
    "AWS::SNS::Subscription": _create_subscription,
    "AWS::Scheduler::Schedule": _create_schedule,
    "AWS::SQS::QueuePolicy": _create_queue_policy,
    "AWS::Lambda::EventInvokeConfig": _create_event_invoke_config,
    "AWS::CloudWatch::Alarm": _create_alarm,
    # Created by moto's CloudFormation, except when they refer to a resource created beside.
    "AWS::Events::Rule": _create_rule,
    "AWS::Lambda::Permission": _create_permission,
}
# The types moto's CloudFormation skips (with a warning) or cannot create.
_MOTO_LACKS = {
    "AWS::SecretsManager::Secret",
    "AWS::SNS::Subscription",
    "AWS::Scheduler::Schedule",
    "AWS::SQS::QueuePolicy",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::CloudWatch::Alarm",
    # Amazon Q Developer in chat applications (the Chat* parameters): nothing local can post
    # to Slack or Teams; listed as not emulated.
    "AWS::Chatbot::SlackChannelConfiguration",
    "AWS::Chatbot::MicrosoftTeamsChannelConfiguration",
}


_NO_VALUE = object()  # AWS::NoValue: the list item or property is left out


class _Resolver:
    """Enough of CloudFormation's intrinsic functions for the resources created beside."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.values = {**_pseudo_parameters(stack.name), **stack.parameters}

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.stack.transformed.get("Conditions", {})[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref" and arg == "AWS::NoValue":
                return _NO_VALUE
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
            if fn == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if fn == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if fn == "Condition":
                return self.condition(arg)
        return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not _NO_VALUE}

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
            if kind == "AWS::CloudWatch::Alarm":
                return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{physical}"
            if kind == "AWS::Events::Rule":
                return f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{physical}"
            if kind == "AWS::Lambda::Function":
                return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{physical}"
            if kind == "AWS::IAM::Role":
                return f"arn:aws:iam::{ACCOUNT_ID}:role/{physical}"
            if kind == "AWS::SQS::Queue":
                return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{physical.rsplit('/', 1)[-1]}"
        if attribute == "QueueUrl":
            return physical
        if attribute == "QueueName" and kind == "AWS::SQS::Queue":
            return physical.rsplit("/", 1)[-1]
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
