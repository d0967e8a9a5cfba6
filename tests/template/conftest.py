"""Fixtures for the template tests: the tools of the venv, an AWS-free environment, the
template as written (SAM) and as deployed (after the SAM transform)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.arn_generator import ArnGenerator
from samtranslator.translator.translator import Translator

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
REGION = "us-east-1"


def tool_path(name: str) -> Path:
    """An executable of the venv running the tests (sam, checkov, cfn-lint, ...).

    Looked up next to sys.executable (not resolved: the venv's python is a symlink), so
    `.venv/bin/pytest` finds `.venv/bin/sam` without the venv being activated.
    """
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} not found next to {sys.executable}; run `make setup` (requirements-dev.txt)")
    return path


def offline_env(home: Path) -> dict[str, str]:
    """Environment for the AWS tools: fake credentials and a fixed region, no profile, and
    every AWS endpoint pointed at a closed local port so nothing can reach real AWS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAM_CLI_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        SAM_CLI_TELEMETRY="0",
        # checkov: no Prisma Cloud guideline download, no PyPI update check
        BC_SKIP_MAPPING="TRUE",
        CKV_SKIP_PACKAGE_UPDATE_CHECK="true",
        # sam build resolves python3.13 from PATH: use the venv's interpreter
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return env


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def template_path() -> Path:
    return TEMPLATE


@pytest.fixture(scope="session")
def run_tool(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """Run a venv tool offline and return the completed process (never raises on rc)."""
    env = offline_env(tmp_path_factory.mktemp("aws-home"))

    def run(
        name: str, *args: str | Path, cwd: Path = REPO_ROOT, timeout: int = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(tool_path(name)), *map(str, args)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


def _plain(node: Any) -> dict[str, Any]:
    """cfn-lint's YAML nodes (and the translator's output) as plain dicts, lists and strings."""
    plain: dict[str, Any] = json.loads(json.dumps(node))
    return plain


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """template.yaml as written; intrinsics as their JSON form ({"Ref": ...}, {"Fn::Sub": ...})."""
    return _plain(cfn_yaml.load(str(TEMPLATE)))


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = template["Resources"]
    return resources


@pytest.fixture(scope="session")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """What CloudFormation deploys: the SAM transform applied, offline."""
    sam = copy.deepcopy(template)
    for resource in sam["Resources"].values():  # sam deploy uploads these local paths
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = f"s3://bucket/{key}"

    def no_managed_policies() -> dict[str, str]:
        raise AssertionError("a managed policy referenced by name needs IAM to resolve")

    saved_region = ArnGenerator.BOTO_SESSION_REGION_NAME  # the translator sets this global
    try:
        session = boto3.session.Session(region_name=REGION)
        translator = Translator(None, Parser(), boto_session=session)
        return _plain(translator.translate(sam, parameter_values={}, get_managed_policy_map=no_managed_policies))
    finally:
        ArnGenerator.BOTO_SESSION_REGION_NAME = saved_region


@pytest.fixture(scope="session")
def transformed_file(transformed: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("transformed") / "transformed.json"
    path.write_text(json.dumps(transformed, indent=1))
    return path
