"""`sam build` produces a deployable layer and function (arm64, no dev dependencies)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

Runner = Callable[..., subprocess.CompletedProcess[str]]

LAYER_PACKAGES = ["quotawatch", "requests", "yaml", "msgspec", "aws_lambda_powertools", "jmespath"]
# The Lambda runtime provides boto3; the rest are development tools that must not ship.
NOT_SHIPPED = [
    "boto3",
    "botocore",
    "pytest",
    "_pytest",
    "moto",
    "hypothesis",
    "mypy",
    "ruff",
    "samcli",
    "checkov",
]


@pytest.fixture(scope="module")
def build_dir(run_tool: Runner, template_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("sam-build")
    build, cache = work / "build", work / "cache"
    # cwd is the temp dir: with `cached = true` (samconfig.toml) SAM keeps dependencies
    # in ./.aws-sam/deps, which must not land in the repository. samconfig.toml is still
    # read from the template's directory.
    result = run_tool(
        "sam",
        "build",
        "--template",
        template_path,
        "--build-dir",
        build,
        "--cache-dir",
        cache,
        cwd=work,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return build


def test_layer_contains_the_library_and_its_runtime_dependencies(build_dir: Path) -> None:
    python = build_dir / "QuotaWatchLayer" / "python"
    for package in LAYER_PACKAGES:
        assert (python / package / "__init__.py").is_file(), package


def test_layer_carries_the_provider_catalogue_and_not_the_command_line_view(build_dir: Path) -> None:
    python = build_dir / "QuotaWatchLayer" / "python"
    shipped = sorted(p.name for p in (python / "quotawatch" / "providers" / "catalogue").glob("*.yaml"))
    source = Path(__file__).resolve().parents[2] / "layers/quotawatch/quotawatch/providers/catalogue"
    assert shipped == sorted(p.name for p in source.glob("*.yaml"))
    assert len(shipped) >= 16
    assert not (python / "quotawatch_view").exists()
    assert not (python / "matplotlib").exists()


def test_layer_ships_no_boto_and_no_dev_tools(build_dir: Path) -> None:
    python = build_dir / "QuotaWatchLayer" / "python"
    shipped = {p.name for p in python.iterdir()}
    assert not shipped & set(NOT_SHIPPED), sorted(shipped & set(NOT_SHIPPED))


def test_layer_native_code_is_built_for_arm64(build_dir: Path) -> None:
    extensions = list((build_dir / "QuotaWatchLayer" / "python").rglob("*.so"))
    assert all("aarch64" in so.name for so in extensions), [so.name for so in extensions if "aarch64" not in so.name]


def test_layer_ships_python_3_13_bytecode_for_every_module(build_dir: Path) -> None:
    # Lambda's /opt is read only: a module without bytecode is compiled at every cold start.
    # Unchecked hash-based (flags 1): valid whatever times the zip gives the sources.
    python = build_dir / "QuotaWatchLayer" / "python"
    magic = importlib.util.MAGIC_NUMBER  # the venv is the runtime's python3.13
    uncompiled, wrong = [], []
    for source in python.rglob("*.py"):
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        if not compiled.is_file():
            uncompiled.append(str(source.relative_to(python)))
        elif compiled.read_bytes()[:8] != magic + (1).to_bytes(4, "little"):
            wrong.append(str(compiled.relative_to(python)))
    assert sys.version_info[:2] == (3, 13)
    assert not uncompiled, uncompiled[:10]
    assert not wrong, wrong[:10]


def test_function_contains_handler_and_monitors_file(build_dir: Path) -> None:
    function = build_dir / "CheckUsageFunction"
    assert (function / "app.py").is_file()
    assert (function / "monitors.yaml").is_file()
    # its dependencies come from the layer, not bundled again
    assert not (function / "requests").exists()
    assert not (function / "quotawatch").exists()


def test_notify_function_contains_its_handler_only(build_dir: Path) -> None:
    function = build_dir / "NotifyFunction"
    assert (function / "app.py").is_file()
    assert not (function / "requests").exists()
    assert not (function / "quotawatch").exists()


def test_built_template_points_at_the_build_artifacts(build_dir: Path) -> None:
    built = (build_dir / "template.yaml").read_text()
    assert "CodeUri: CheckUsageFunction" in built
    assert "CodeUri: NotifyFunction" in built
    assert "ContentUri: QuotaWatchLayer" in built


def test_the_fan_out_worker_is_built_from_the_check_functions_code(build_dir: Path) -> None:
    resources = cfn_yaml.load(str(build_dir / "template.yaml"))["Resources"]
    worker = build_dir / str(resources["CheckShardFunction"]["Properties"]["CodeUri"])
    assert "def shard_handler(" in (worker / "app.py").read_text()
    assert (worker / "monitors.yaml").is_file()  # the same monitors file as the dispatcher's
    assert not (worker / "quotawatch").exists()  # from the layer
