"""Fixtures for health tests: the real ``chairside`` CLI in-process, with its own env."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chairside.cli.main import app
from chairside.config import get_settings


@dataclass
class Run:
    exit_code: int
    stdout: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def checks(self) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.json()["checks"]}


CliCall = Callable[..., Run]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, home: Path) -> Iterator[CliCall]:
    """``cli("health", "--json", env={...})`` with CHAIRSIDE_HOME set to this test's own."""
    monkeypatch.setenv("CHAIRSIDE_HOME", str(home))
    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, env: dict[str, str] | None = None) -> Run:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        return Run(result.exit_code, result.stdout)

    yield run
    get_settings.cache_clear()
