"""python -m quotawatch_local demo | up | invoke FUNCTION -e EVENT [--env-vars FILE] [--async]
| alarm ALARM STATE [--reason TEXT] | fake PROVIDER [SCENARIO]"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from quotawatch_local.embedded_aws import embedded_aws, scrub_real_aws_environment

REPO = Path(__file__).resolve().parents[2]
STATE_FILE = REPO / ".quotawatch-local" / "stack.json"
# The check function's environment `up` runs it with (the demo's monitors file and the fakes'
# CA): `make invoke` uses it too while `up` runs.
ENV_FILE = REPO / ".quotawatch-local" / "env.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quotawatch_local", description="QuotaWatch on this machine, no AWS account.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the whole story once and tear down")
    up = commands.add_parser("up", help="start the embedded AWS with the stack deployed; Ctrl-C stops it")
    up.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE")
    up.add_argument(
        "--real-providers",
        action="store_true",
        help="check the real providers of monitors.yaml (keys: put them into the local secret) instead of "
        "the demo's fakes",
    )
    invoke = commands.add_parser(
        "invoke", help="run a function of template.yaml with an event, like `sam local invoke`"
    )
    invoke.add_argument("function", help="logical id in template.yaml, e.g. CheckUsageFunction")
    invoke.add_argument("-e", "--event", required=True, help="event file, e.g. events/scheduled.json")
    invoke.add_argument("-n", "--env-vars", help="JSON file {FunctionLogicalId: {VAR: value}}, as in sam local invoke")
    invoke.add_argument(
        "--async",
        dest="asynchronous",
        action="store_true",
        help="invoke as an event (InvocationType Event): retries, then the on-failure destination",
    )
    alarm = commands.add_parser(
        "alarm", help="set an alarm's state in the running `up` and deliver the state change to its rule's targets"
    )
    alarm.add_argument("alarm", help="logical id in template.yaml, e.g. HeartbeatAlarm")
    alarm.add_argument("state", choices=["ALARM", "OK", "INSUFFICIENT_DATA"])
    alarm.add_argument("--reason", default="set by hand with quotawatch_local alarm")
    fake = commands.add_parser("fake", help="serve a fake provider on loopback, e.g. to try `quotawatch fetch`")
    fake.add_argument("provider", help="a provider of the catalogue (`quotawatch providers`), or one with --fixture")
    fake.add_argument("scenario", nargs="?", help="a documented example or a fault; omit to list them")
    fake.add_argument("--fixture", help="a file of the provider's documented answers (fakes/catalogue/*.yaml format)")
    fake.add_argument("--key", default="local-test-key", help="the key the fake accepts (default: local-test-key)")
    fake.add_argument("--providers", help="the declaration of a provider of your own (for the command it prints)")
    args = parser.parse_args(argv)

    scrub_real_aws_environment()  # nothing here may reach a real AWS account
    if args.command == "demo":
        from quotawatch_local import demo

        demo.run(REPO)
        return 0
    if args.command == "fake":
        return _fake(args.provider, args.scenario, args.key, args.fixture, args.providers)
    if args.command == "up":
        return _up(dict(item.split("=", 1) for item in args.parameter_overrides), args.real_providers)
    if args.command == "alarm":
        return _alarm(args.alarm, args.state, args.reason)
    return _invoke(args.function, Path(args.event), Path(args.env_vars) if args.env_vars else None, args.asynchronous)


def _fake(
    provider: str, scenario: str | None, key: str, fixture_file: str | None = None, declarations: str | None = None
) -> int:
    import importlib

    from quotawatch.providers import PROVIDERS
    from quotawatch_local.fakes import FakeProvider, ProviderApi, tls
    from quotawatch_local.fakes.catalogued import fixtures, read_fixture

    if provider not in PROVIDERS and declarations is None:
        print(f"'{provider}' is not in the catalogue: give its declaration with --providers FILE")
        return 2

    api: ProviderApi
    fixture = read_fixture(Path(fixture_file)) if fixture_file else fixtures().get(provider)
    if fixture is not None:
        api, choices, base_of = fixture.api(), fixture.scenarios(), None
    elif provider in ("cloudlayer", "tornado", "converra", "imagerouter"):
        module = importlib.import_module(f"quotawatch_local.fakes.{provider}")
        api, choices, base_of = module.API, module.scenarios(), getattr(module, "base_url_of", None)
    else:
        print(f"no fake for '{provider}': see `quotawatch providers`, or give --fixture FILE")
        return 2
    if scenario not in choices:
        print(f"scenarios of the fake {provider}: {', '.join(sorted(choices))}")
        return 0 if scenario is None else 2
    with FakeProvider(api, key, choices[scenario]) as server:
        base_url = base_of(server) if base_of else server.base_url
        print(f"fake {provider} ({scenario}) at {base_url}, accepting the key {key!r}, with a test CA. Try:")
        trust = f"{tls.CA_BUNDLE_VARIABLE}={tls.ca_bundle()}"
        params = "".join(f" --param {k}={v}" for k, v in (fixture.params.items() if fixture else ()))
        own = f" --providers {declarations}" if declarations else ""
        command = f"quotawatch fetch {provider}{own} --key-env QW_KEY --base-url {base_url}{params}"
        print(f"  {trust} QW_KEY={key} .venv/bin/{command}", flush=True)
        _wait_for_ctrl_c()
    return 0


def _up(parameters: dict[str, str], real_providers: bool = False) -> int:
    from contextlib import ExitStack
    from datetime import UTC, datetime

    from quotawatch_local.demo import first_readings, serve_demo_providers
    from quotawatch_local.lambda_service import Call, LocalLambda
    from quotawatch_local.local_stack import deploy

    def show(calls: list[Call]) -> None:
        for call in calls:
            outcome = f"error {call.error.get('errorType')}" if call.error else "ok"
            records = len(call.event.get("Records", []))
            print(f"{call.source} -> {call.function}: {records} record(s), {outcome}", flush=True)

    with embedded_aws() as aws, ExitStack() as fakes:
        stack = deploy(aws, REPO / "template.yaml", parameters=parameters)
        overrides = {} if real_providers else serve_demo_providers(stack, REPO, fakes, STATE_FILE.parent)
        service = LocalLambda(stack, env_overrides={"CheckUsageFunction": overrides}).serve_invokes()
        if not real_providers:
            first_readings(service, datetime.now(UTC))
        stack.save(STATE_FILE)
        ENV_FILE.write_text(json.dumps({"CheckUsageFunction": overrides}))
        service.start(interval=1.0, on_calls=show)
        print(f"Embedded AWS at {aws.endpoint_url}, stack '{stack.name}' deployed.")
        if real_providers:
            print("It checks the real providers of monitors.yaml: put their keys into the local secret.")
        else:
            print(
                "It checks the demo's fake providers (their keys are in its secret), and took "
                "a few readings: try `.venv/bin/quotawatch status`. `make up REAL=1` checks the real providers."
            )
        mapped = ", ".join(f"{m.function} ({m.batch_size} a batch)" for m in service.mappings)
        print(f"Polling the table's stream for {mapped}, as Lambda would.")
        for queue in service.queue_mappings:
            print(f"Polling the shard queue for {queue.function}, {queue.maximum_concurrency} at once.")
        print(
            "Use it with: export AWS_ENDPOINT_URL="
            + aws.endpoint_url
            + " AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1"
        )
        print(json.dumps(stack.outputs, indent=2))
        try:
            _wait_for_ctrl_c()
        finally:
            service.close()
            STATE_FILE.unlink(missing_ok=True)
            ENV_FILE.unlink(missing_ok=True)
    return 0


def _wait_for_ctrl_c() -> None:
    print("Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def _invoke(function: str, event_file: Path, env_file: Path | None, asynchronous: bool = False) -> int:
    from quotawatch_local.invoke import Invocation, invoke_once
    from quotawatch_local.lambda_service import LocalLambda
    from quotawatch_local.local_stack import LocalStack, deploy

    event = json.loads(event_file.read_text())
    up = _running_up()
    running = json.loads(ENV_FILE.read_text()).get(function, {}) if up and ENV_FILE.exists() else {}
    overrides = {**running, **(json.loads(env_file.read_text()).get(function, {}) if env_file else {})}

    def run(stack: LocalStack) -> Invocation:
        if not asynchronous:
            return invoke_once(stack, function, event, overrides)
        with LocalLambda(stack, env_overrides={function: overrides}) as service:
            outcome = service.invoke_async(function, event)
            for number, attempt in enumerate(outcome.attempts, 1):
                status = f"error {attempt.error['errorType']}" if attempt.error else "ok"
                print(f"attempt {number}: {status}", file=sys.stderr)
            if outcome.destination:
                print(f"invocation record sent to {outcome.destination}", file=sys.stderr)
            return outcome.attempts[-1]

    if up:
        result = run(LocalStack.load(STATE_FILE))
    else:
        print(
            "No `up` running: using a fresh embedded AWS with the stack deployed (its secret is empty).",
            file=sys.stderr,
        )
        with embedded_aws() as aws:
            result = run(deploy(aws, REPO / "template.yaml"))
    for line in result.logs:
        print(line, file=sys.stderr)
    print(json.dumps(result.error or result.result, indent=2))
    return 1 if result.error else 0


def _running_up() -> bool:
    """Whether a `make up` described by STATE_FILE still answers: one stopped without its
    cleanup (killed, or the machine slept) leaves the file behind, pointing at a dead port."""
    import socket
    from urllib.parse import urlsplit

    if not STATE_FILE.exists():
        return False
    try:
        url = urlsplit(json.loads(STATE_FILE.read_text())["endpoint_url"])
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=2):
            return True
    except (OSError, ValueError, KeyError, TypeError):
        print(f"{STATE_FILE.relative_to(REPO)} is left from a `make up` that no longer answers.", file=sys.stderr)
        return False


def _alarm(alarm: str, state: str, reason: str) -> int:
    from quotawatch_local.lambda_service import LocalLambda
    from quotawatch_local.local_stack import LocalStack

    if not _running_up():
        print("No `up` running: start `make up` first; the alarm lives in its embedded AWS.", file=sys.stderr)
        return 2
    with LocalLambda(LocalStack.load(STATE_FILE)) as service:
        deliveries = service.set_alarm_state(alarm, state, reason)
        for delivery in deliveries:
            outcome = delivery.outcome
            status = "" if outcome is None else (" ok" if outcome.succeeded else " failed")
            print(f"rule {delivery.rule} -> {delivery.target}{status}")
        if not deliveries:
            print("no rule of the stack matched the state change")
    return 0


if __name__ == "__main__":
    sys.exit(main())
