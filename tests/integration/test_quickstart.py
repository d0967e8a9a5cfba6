"""The README's quick start, followed literally by a newcomer, on the local stack.

Each numbered step of the README is read from the README itself: its YAML snippet is
added to a copy of monitors.yaml, and its shell blocks run as written, in bash, in a copy
of the repository. Two things stand in for AWS: the deploy is the local stack's, with the
answers docs/deploy.md gives to `sam deploy --guided` (the embedded AWS has no SAM
transform), and the embedded AWS's Lambda Invoke API runs the function through the local
Lambda service (`quotawatch test-alert` calls it as it would in AWS). Every `aws` command
is the real AWS CLI against the embedded AWS. When a documented step stops working, this test fails at it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from quotawatch_local.embedded_aws import EmbeddedAws
from quotawatch_local.inbox import Inbox
from quotawatch_local.lambda_service import LocalLambda
from quotawatch_local.local_stack import deploy
from tests.integration.conftest import REPO

pytestmark = pytest.mark.integration

VENV_BIN = Path(sys.executable).parent
COPIED = ["Makefile", "template.yaml", "samconfig.toml", "requirements-dev.txt", "requirements-checkov.txt"]
COPIED_DIRS = ["functions", "layers", "events", "scripts"]


def quick_start() -> list[tuple[str, list[tuple[str, str]]]]:
    """The README's numbered steps: each one's title and its fenced blocks (language, text)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Quick start", 1)[1].split("\n## ", 1)[0]
    steps = re.split(r"(?m)^\d+\. \*\*", section)[1:]
    return [
        (
            step.split("**", 1)[0],
            [(lang, textwrap.dedent(body)) for lang, body in re.findall(r"(?ms)^ *```(\w+)\n(.*?)^ *```", step)],
        )
        for step in steps
    ]


def guided_answers() -> dict[str, str]:
    """The answer docs/deploy.md gives to each prompt: a value in backticks, or Enter (the default)."""
    page = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    table = page.split("## The prompts of `sam deploy --guided`", 1)[1].split("\n## ", 1)[0]
    answers = {}
    for row in table.splitlines():
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        for prompt, default in re.findall(r"`([^`\[]+?) \[([^\]]*)\]`", cells[0]):
            given = re.search(r"`([^`]+)`", cells[1])
            answers[prompt] = default if cells[1].startswith("Enter") or not given else given.group(1)
    return answers


def copy_of_the_repo(into: Path) -> Path:
    """What a clone holds for these steps, set up: its .venv lends this run's tools, with a
    stamp of its own newer than the requirements, so `make setup` has nothing to do (it
    must not reinstall into this run's venv, whose command and path file name the repo)."""
    for name in COPIED:
        shutil.copy2(REPO / name, into / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED_DIRS:
        shutil.copytree(REPO / name, into / name, ignore=ignore, copy_function=shutil.copy2)
    venv = into / ".venv"
    venv.mkdir()
    for part in ("bin", "lib", "tools", "pyvenv.cfg"):
        (venv / part).symlink_to(VENV_BIN.parent / part)
    (venv / ".installed").touch()
    return into


def sh(block: str, cwd: Path, env: dict[str, str], stdin: str = "") -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"the documented step failed:\n{block}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_quick_start_works_as_written(aws: EmbeddedAws, tmp_path: Path) -> None:
    steps = quick_start()
    assert [title for title, _ in steps] == [
        "Say what to watch.",
        "Build",
        "Deploy",
        "Put the keys in",
        "Send the test alert",
    ]
    (_, say), (_, build), (_, deploy_blocks), (_, keys), (_, test_alert) = steps
    work = copy_of_the_repo(tmp_path)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])

    # 1. Say what to watch: add the README's monitor to the example's, and check the file.
    monitors_file = work / "functions/check_usage/monitors.yaml"
    (snippet,) = [text for lang, text in say if lang == "yaml"]
    added = yaml.safe_load(snippet)["monitors"]
    with monitors_file.open("a", encoding="utf-8") as monitors:
        monitors.write("\n".join(line for line in snippet.splitlines() if line.startswith("  ")) + "\n")
    monitors = yaml.safe_load(monitors_file.read_text(encoding="utf-8"))["monitors"]
    assert monitors[-len(added) :] == added
    (check,) = [text for lang, text in say if lang == "sh"]
    sh(check, work, env)  # make setup, then check-config: exit 0, no problem in the file

    # 2. Build: sam build packs the edited monitors file with the function.
    (build_block,) = [text for _, text in build]
    sh(build_block, work, env)
    assert "deepl" in (work / ".aws-sam/build/CheckUsageFunction/monitors.yaml").read_text(encoding="utf-8")

    # 3. Deploy, with the answers the deploy page gives to sam deploy --guided.
    ((_, guided),) = deploy_blocks
    assert guided.strip() == ".venv/bin/sam deploy --guided"
    answers = guided_answers()
    assert answers["SAM configuration file"] == "samconfig.local.toml"
    parameters = {name.removeprefix("Parameter "): value for name, value in answers.items() if "Parameter " in name}
    aws.reset()
    stack = deploy(aws, work / "template.yaml", stack_name=answers["Stack Name"], parameters=parameters)
    assert "Warning" not in stack.outputs  # someone is told
    subscribed = aws.client("sns").list_subscriptions_by_topic(TopicArn=stack.outputs["AlertTopicArn"])
    assert {(s["Protocol"], s["Endpoint"]) for s in subscribed["Subscriptions"]} == {
        *(("email", email) for email in parameters["AlertEmails"].split(",")),
        *(("sms", phone) for phone in parameters["AlertPhones"].split(",")),
    }
    stack.save(tmp_path / "stack.json")
    env |= {
        "AWS_ENDPOINT_URL": aws.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    # 4. Put the keys in: pasted into keys.json, then into the stack's secret.
    (keys_block,) = [text for _, text in keys]
    pasted = {monitor["secret_field"]: f"key-of-{monitor['id']}-not-real" for monitor in monitors}
    sh(keys_block, work, env, stdin=json.dumps(pasted))
    secret = aws.client("secretsmanager").get_secret_value(SecretId=stack.outputs["ApiKeysSecretName"])
    assert json.loads(secret["SecretString"]) == pasted
    assert not (work / "keys.json").exists()

    # 5. Send the test alert: it arrives where every alert arrives, marked [TEST]. The
    # embedded AWS's Lambda Invoke API runs the function through the local Lambda service,
    # which also runs the notify function behind the table's stream.
    inbox = Inbox(aws, stack.outputs["AlertTopicArn"], "quickstart-inbox")
    (test_alert_block,) = [text for _, text in test_alert]
    with LocalLambda(stack).serve_invokes().start(interval=0.2):
        said = sh(test_alert_block, work, env)
        deadline = time.monotonic() + 60
        delivered = inbox.take()
        while not delivered and time.monotonic() < deadline:
            time.sleep(0.2)
            delivered += inbox.take()
    assert said.startswith("Test alert queued: [TEST]"), said
    assert [message.subject for message in delivered] == [delivered[0].subject]
    assert "[TEST]" in delivered[0].subject
