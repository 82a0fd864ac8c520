"""Incident tests run the real CLI against an ops store under a temporary CHAIRSIDE_HOME."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chairside.cli.main import app
from chairside.config import Settings, get_settings, load_settings

Cli = Callable[..., tuple[int, Any]]


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    monkeypatch.setenv("CHAIRSIDE_HOME", str(path))
    for name in ("CHAIRSIDE_NOTIFY_URLS", "CHAIRSIDE_OPS_STORE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(home=home)


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run ``chairside incident ARGS``: exit code, stdout, stderr."""
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["incident", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cli(home: Path) -> Cli:
    """``chairside incident ARGS --json``: exit code and the parsed JSON."""

    def invoke(*args: str) -> tuple[int, Any]:
        code, stdout, _ = run_cli(*args, "--json")
        return code, json.loads(stdout)

    return invoke
