"""Running the real ``chairside`` command in-process, with its environment set per test."""

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


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, home: Path) -> Iterator[Callable[..., Run]]:
    """Call ``cli("status", "--json", env={...})``; CHAIRSIDE_HOME is this test's own."""
    monkeypatch.setenv("CHAIRSIDE_HOME", str(home))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)

    def run(*args: str, env: dict[str, str] | None = None) -> Run:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        return Run(result.exit_code, result.stdout)

    yield run
    get_settings.cache_clear()
