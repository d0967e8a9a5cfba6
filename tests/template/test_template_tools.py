"""The linters and scanners the template must pass, run as a user would run them."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Runner = Callable[..., subprocess.CompletedProcess[str]]

# Each skip says why in the template; this list makes adding one a reviewed change.
EXPECTED_SKIPS = {
    ("CKV_AWS_117", "CheckUsageFunction"),  # no VPC: public HTTPS APIs only, NAT costs money
    ("CKV_AWS_173", "CheckUsageFunction"),  # env vars hold no secrets, CMK costs $1/month
    ("CKV_AWS_116", "CheckUsageFunction"),  # failures go to the on-failure destination, not a DLQ too
    ("CKV_AWS_117", "NotifyFunction"),  # no VPC: AWS endpoints only, NAT costs money
    ("CKV_AWS_173", "NotifyFunction"),  # env vars hold no secrets, CMK costs $1/month
    ("CKV_AWS_115", "NotifyFunction"),  # concurrency bounded by the stream; quota-10 accounts
    ("CKV_AWS_116", "NotifyFunction"),  # failures go to the on-failure destination, not a DLQ too
    ("CKV_AWS_117", "CheckShardFunction"),  # no VPC: public HTTPS APIs only, NAT costs money
    ("CKV_AWS_173", "CheckShardFunction"),  # env vars hold no secrets, CMK costs $1/month
    ("CKV_AWS_115", "CheckShardFunction"),  # concurrency capped by the mapping's MaximumConcurrency
    ("CKV_AWS_116", "CheckShardFunction"),  # invoked by SQS only: the queue's redrive is its DLQ
    ("CKV_AWS_158", "CheckShardLogGroup"),  # CMK costs $1/month
    ("CKV_AWS_27", "CheckShardQueue"),  # false positive: SSE-SQS not recognised
    ("CKV_AWS_27", "CheckShardDeadLetterQueue"),  # false positive: SSE-SQS not recognised
    ("CKV_AWS_158", "CheckUsageLogGroup"),  # CMK costs $1/month
    ("CKV_AWS_158", "NotifyLogGroup"),  # CMK costs $1/month
    ("CKV_AWS_27", "ScheduleDeadLetterQueue"),  # false positive: SSE-SQS not recognised
    ("CKV_AWS_27", "NotifyFailureQueue"),  # false positive: SSE-SQS not recognised
    ("CKV_AWS_119", "QuotaWatchTable"),  # AWS-managed key, CMK costs $1/month
    ("CKV_AWS_149", "ApiKeysSecret"),  # AWS-managed key, CMK costs $1/month
}


def test_sam_validate_lint_passes(run_tool: Runner, template_path: Path) -> None:
    result = run_tool("sam", "validate", "--lint", "--template", template_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def test_cfn_lint_has_no_informational_findings_either(run_tool: Runner, template_path: Path) -> None:
    result = run_tool("cfn-lint", "--include-checks", "I", "--regions", "us-east-1", "--", template_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _checkov(run_tool: Runner, path: Path) -> dict[str, Any]:
    result = run_tool(
        "checkov",
        "-f",
        path,
        "--framework",
        "cloudformation",
        "-o",
        "json",
        "--skip-download",
        cwd=path.parent,
    )
    assert result.returncode in (0, 1), result.stderr  # 1 = failed checks, reported below
    report = json.loads(result.stdout)
    assert isinstance(report, dict), report  # one framework, one report
    return report


@pytest.fixture(scope="module")
def checkov_report(run_tool: Runner, template_path: Path) -> dict[str, Any]:
    return _checkov(run_tool, template_path)


def _failures(report: dict[str, Any]) -> list[str]:
    return [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]


def test_checkov_reports_no_failed_checks(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert _failures(checkov_report) == []
    assert summary["failed"] == 0
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 5  # it did scan the resources


def test_checkov_skips_are_the_expected_ones_and_all_used(checkov_report: dict[str, Any]) -> None:
    skipped = {(c["check_id"], c["resource"].split(".")[-1]) for c in checkov_report["results"]["skipped_checks"]}
    assert skipped == EXPECTED_SKIPS
    for check in checkov_report["results"]["skipped_checks"]:
        assert check["check_result"]["suppress_comment"].strip(), check["check_id"]


def test_every_checkov_skip_in_the_template_has_a_written_reason(resources: dict[str, Any]) -> None:
    skips = [
        (name, skip)
        for name, resource in resources.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips, "expected the documented skips"
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip.get("id", "")), (name, skip)
        comment = str(skip.get("comment", "")).strip()
        assert len(comment) >= 40, f"{name} {skip.get('id')}: the skip needs a real reason"


def test_checkov_passes_on_the_transformed_template(run_tool: Runner, transformed_file: Path) -> None:
    """The resources SAM generates (IAM roles, schedule, event invoke config) pass too."""
    report = _checkov(run_tool, transformed_file)
    assert _failures(report) == []
    assert report["summary"]["parsing_errors"] == 0
