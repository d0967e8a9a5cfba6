"""Every shell block of the README and docs/ that uses `quotawatch` or `make` is either run
here, as written, against a local stack named `quotawatch` that has readings, or named
with the reason it is not (a real AWS account, a real provider's key, the test that runs
it already). A new block must be added below; a documented command that stops working
fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quotawatch_local.embedded_aws import EmbeddedAws
from quotawatch_local.fakes import Reply, sequence
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN, fake_cloudlayer
from quotawatch_local.local_stack import deploy
from tests.integration.conftest import REPO, Platform, cloudlayer_monitor, put_keys, write_monitors

pytestmark = pytest.mark.integration

QUICK_START = "the quick start: tests/integration/test_quickstart.py runs it as written"
REAL_AWS = "needs a real AWS account; the quick-start test runs its local equivalent"

# Each block by its page and first line: None runs it; a text is why it is not run here.
BLOCKS: dict[tuple[str, str], str | None] = {
    ("README.md", "make demo"): "the demo and the whole suite: test_local_platform.py runs the demo",
    ("README.md", "make setup"): QUICK_START,
    ("README.md", "make build"): QUICK_START,
    ("README.md", "cat > keys.json"): QUICK_START,
    ("README.md", ".venv/bin/quotawatch test-alert --stack quotawatch"): QUICK_START,
    ("README.md", ".venv/bin/quotawatch status --stack quotawatch"): None,
    ("docs/deploy.md", "make build"): REAL_AWS,
    ("docs/deploy.md", "cat > keys.json"): REAL_AWS,
    ("docs/deploy.md", "FUNCTION=$(aws cloudformation describe-stacks"): REAL_AWS,
    ("docs/deploy.md", ".venv/bin/quotawatch test-alert --stack quotawatch"): REAL_AWS,
    ("docs/deploy.md", ".venv/bin/quotawatch check-now --stack quotawatch"): REAL_AWS,
    ("docs/local.md", ".venv/bin/quotawatch status"): (
        "needs make up's demo fakes: test_first_day.py runs each of its commands on them"
    ),
    ("docs/local.md", "export AWS_ENDPOINT_URL=http://127.0.0.1:PORT"): "needs make up's port and your keys",
    (
        "docs/fetch.md",
        "read -rs CLOUDLAYER_KEY",
    ): "reads a real provider with your key; test_cli.py runs fetch on fakes",
    ("docs/local.md", "make demo"): "the demo and the whole suite: test_local_platform.py runs the demo",
    ("docs/local.md", "make up"): "make up runs until Ctrl-C; test_local_platform.py runs the local invoke",
    ("docs/self-watch.md", "Q=$(aws cloudformation describe-stacks"): (
        "the embedded AWS's queue URLs name queue.amazonaws.com, which the AWS CLI then calls itself"
    ),
    ("docs/silences.md", "quotawatch mute imagerouter:key:*"): None,
    ("docs/status.md", ".venv/bin/quotawatch status --stack quotawatch"): None,
    ("docs/watch-any-api.md", ".venv/bin/python -m quotawatch_local fake coingecko"): (
        "its last line reads the real CoinGecko; test_catalogue.py runs the example on its fake"
    ),
    ("docs/watch-any-api.md", ".venv/bin/python -m quotawatch_local fake openai"): (
        "its last line reads the real OpenAI; test_declared_requests.py runs fetch openai on its fake"
    ),
}
# Lines of a run block that are examples and fail as they should: the line, and why.
EXPECTED_TO_FAIL = {"quotawatch unmute s-1a2b3c": "an example id: `quotawatch silences` lists the real ones"}


def documented_blocks() -> dict[tuple[str, str], str]:
    found = {}
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"(?ms)^ *```sh\n(.*?)^ *```", text):
            block = "\n".join(line.strip() for line in block.splitlines())
            if re.search(r"\bquotawatch\b|\bmake\b", block):
                first = block.splitlines()[0]
                key = next(
                    (k for k in BLOCKS if k[0] == page.relative_to(REPO).as_posix() and first.startswith(k[1])), None
                )
                found[key or (page.relative_to(REPO).as_posix(), first)] = block
    return found


def test_every_documented_block_is_run_or_says_why_not() -> None:
    assert set(documented_blocks()) == set(BLOCKS)


def commands(block: str) -> list[str]:
    """The block's commands, one per line once continuation lines are joined."""
    joined = re.sub(r"\\\n", " ", block)
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture
def readings(aws: EmbeddedAws, tmp_path: Path) -> Path:
    """A folder like a clone after `make up`: a stack named quotawatch with a day of readings
    of cloudlayer-prod, the shipped monitors file, and the local stack's description."""
    aws.reset()
    stack = deploy(aws, REPO / "template.yaml", stack_name="quotawatch")
    folder = tmp_path
    key = "cl-documented-not-real"
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    replies = [Reply(200, {**LIMIT_PLAN, "calls": calls}) for calls in (300, 500, 700, 850)]
    with fake_cloudlayer(key, sequence(*replies)) as fake:
        monitors = write_monitors(folder, [cloudlayer_monitor(fake.base_url)])
        put_keys(stack, {"cloudlayer-prod": key})
        with Platform(stack, monitors) as platform:
            for hours_ago in (18, 12, 6, 1):
                tick = (now - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
                platform.check({"source": "schedule", "scheduled_time": tick})
    (folder / "functions/check_usage").mkdir(parents=True)
    shutil.copy2(REPO / "functions/check_usage/monitors.yaml", folder / "functions/check_usage/monitors.yaml")
    stack.save(folder / ".quotawatch-local" / "stack.json")
    (folder / ".venv").symlink_to(Path(sys.executable).parent.parent)
    return folder


def failures(block: str, folder: Path, env: dict[str, str]) -> list[str]:
    """Each command of the block that exited non-zero (and is not an expected failure),
    with what it printed; a traceback anywhere is a failure too."""
    listed = commands(block)
    script = "\n".join(f'{command}\necho "::exit $? {index}"' for index, command in enumerate(listed))
    done = subprocess.run(
        ["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    exits = {int(index): int(code) for code, index in re.findall(r"::exit (\d+) (\d+)", done.stdout)}
    failed = [
        listed[i] for i, code in exits.items() if code != 0 and listed[i].split("#")[0].strip() not in EXPECTED_TO_FAIL
    ]
    if len(exits) != len(listed) or failed or "Traceback" in done.stderr:
        return [f"{failed or listed}\n{done.stdout}\n{done.stderr}"]
    return []


def test_the_documented_blocks_work_on_the_local_stack(aws: EmbeddedAws, readings: Path) -> None:
    """One test for all blocks: the stack with readings is this test's alone (a test of
    another module on the same worker resets the embedded AWS)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env |= {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "AWS_ENDPOINT_URL": aws.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "NO_COLOR": "1",
    }
    blocks = documented_blocks()
    run = [key for key, why in BLOCKS.items() if why is None]
    assert run, "no documented block is run"
    assert {key: problems for key in run if (problems := failures(blocks[key], readings, env))} == {}
