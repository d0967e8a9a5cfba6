"""The README is the front door; the depth lives in docs/ pages by topic.

The README once held everything (1,085 lines). Each of its headings is kept below with the
page that now holds its section, so a section cannot quietly disappear when pages change.
"""

from __future__ import annotations

import re
from importlib.util import find_spec
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

# Every heading of the README before the split (issue 20), and its home.
OLD_README_HEADINGS = {
    "QuotaWatch": "README.md",
    "Two commands": "docs/local.md",
    "Try a key: `quotawatch fetch`": "docs/fetch.md",
    "Deploy to your AWS account": "docs/deploy.md",
    "See it: status, history and a report": "docs/status.md",
    "What it costs": "docs/costs.md",
    "SMS: what a text costs in the US": "docs/costs.md",
    "Monitors": "docs/monitors.md",
    "Many monitors: fan-out": "docs/fan-out.md",
    "Alerts: when QuotaWatch speaks": "docs/alerts.md",
    "Channels: Slack, Teams, Discord, PagerDuty and webhooks": "docs/channels.md",
    'Silences: "I know, be quiet until Friday"': "docs/silences.md",
    "QuotaWatch watches itself": "docs/self-watch.md",
    "The daily digest, also a heartbeat": "docs/digest.md",
    "Providers": "docs/providers.md",
    "Watch any API": "docs/watch-any-api.md",
    "Running functions locally": "docs/local.md",
    "Security: what is guaranteed, and how it is tested": "docs/security.md",
    "How it is built": "docs/architecture.md",
}

README_MAX_LINES = 250


def headings(path: Path) -> list[str]:
    """The Markdown headings of a page, outside fenced code."""
    found, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6} (.+)", line)):
            found.append(match.group(1).strip())
    return found


@pytest.mark.parametrize(("heading", "home"), OLD_README_HEADINGS.items())
def test_every_heading_of_the_old_readme_has_a_home(heading: str, home: str) -> None:
    assert heading in headings(REPO / home), f"{heading!r} is no longer a heading of {home}"


def test_the_readme_fits_on_a_few_screens() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_the_readmes_two_commands_stay_as_they_are() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make demo   # the whole story on this machine, in about 20 seconds\n" in readme
    assert "make test   # lint (ruff), types (mypy), unit, integration and template tests\n" in readme


def test_every_page_is_linked_from_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(docs/([a-z0-9-]+\.md)", readme))
    pages = {page.name for page in DOCS.glob("*.md")} - {"index.md"}
    assert pages <= linked, f"pages the README's map does not link: {sorted(pages - linked)}"


def deploy_prompts() -> list[str]:
    """The first column of the deploy page's table of prompts: each prompt, as SAM shows it."""
    page = (DOCS / "deploy.md").read_text(encoding="utf-8")
    table = page.split("## The prompts of `sam deploy --guided`", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return [prompt for row in rows for prompt in re.findall(r"`([^`]+)`", row.split(" | ", 1)[0])]


def test_the_deploy_page_answers_every_parameter_in_the_order_guided_asks() -> None:
    template = cfn_yaml.load(str(REPO / "template.yaml"))
    asked = [f"Parameter {name} [{param.get('Default', '')}]" for name, param in template["Parameters"].items()]
    documented = [prompt for prompt in deploy_prompts() if prompt.startswith("Parameter ")]
    assert documented == asked


def test_the_deploy_page_answers_every_prompt_of_sam_itself() -> None:
    """SAM's own questions, read from the installed SAM CLI, so an upgrade that adds one fails here."""
    spec = find_spec("samcli.commands.deploy.guided_context")
    assert spec is not None, "the SAM CLI is not installed (make setup)"
    source = Path(str(spec.origin)).read_text(encoding="utf-8")
    guided = source.split("def guided_prompts", 1)[1].split("\n    def ", 1)[0]
    sams = re.findall(r'\{self\.start_bold\}([^{}"]+)\{self\.end_bold\}', guided)
    assert "Allow SAM CLI IAM role creation" in sams  # the pattern still reads SAM's source
    documented = " ".join(deploy_prompts())
    assert [prompt for prompt in sams if prompt not in documented] == []
