"""Security fixtures: the CLI run against this test's home, database and Redis."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from chairside.cli.main import app
from chairside.config import Settings, get_settings


@dataclass
class CliRun:
    code: int
    body: Any
    stdout: str
    stderr: str


class SecurityCli:
    """Runs ``chairside security …`` with the environment of a test's settings."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
        self.monkeypatch = monkeypatch
        self.use(settings)

    def use(self, settings: Settings, **extra: str) -> None:
        env = {
            "CHAIRSIDE_HOME": str(settings.home),
            "CHAIRSIDE_ENV": settings.env,
            "CHAIRSIDE_PASSWORD_HASH_MEMORY_KIB": str(settings.password_hash_memory_kib),
            "CHAIRSIDE_PASSWORD_HASH_TIME_COST": str(settings.password_hash_time_cost),
            **extra,
        }
        if settings.database_url is not None:
            env["DATABASE_URL"] = settings.database_url.get_secret_value()
        if settings.redis_url is not None:
            env["REDIS_URL"] = settings.redis_url.get_secret_value()
        for name, value in env.items():
            self.monkeypatch.setenv(name, value)

    def __call__(self, *args: str, json_output: bool = True) -> CliRun:
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(
                app, ["security", *args, *(["--json"] if json_output else [])]
            )
        finally:
            get_settings.cache_clear()
        body = json.loads(result.stdout) if json_output and result.stdout.strip() else None
        return CliRun(result.exit_code, body, result.stdout, result.stderr)


@pytest.fixture
def security_cli(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> SecurityCli:
    monkeypatch.delenv("CHAIRSIDE_JWT_SECRET", raising=False)
    return SecurityCli(monkeypatch, settings)


def check(body: Any, name: str) -> dict[str, Any]:
    """The check called ``name`` in a ``security audit --json`` body."""
    found: dict[str, Any] = next(c for c in body["checks"] if c["name"] == name)
    return found
