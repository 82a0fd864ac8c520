"""Settings: errors that name the variable, secrets that never show, safe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from chairside.config import load_settings
from chairside.errors import ConfigError


def test_a_malformed_value_names_the_variable_and_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHAIRSIDE_PORT", "99999")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "CHAIRSIDE_PORT='99999'" in caught.value.message
    assert "65535" in caught.value.message


def test_an_unknown_environment_lists_the_allowed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAIRSIDE_ENV", "prod")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "CHAIRSIDE_ENV='prod'" in caught.value.message
    assert "'production'" in caught.value.message


def test_secrets_never_appear_when_settings_are_printed(tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path,
        database_url="postgresql://app:hunter2-db@db:5432/chairside",
        jwt_secret="s3cret-signing-key-that-is-long-enough-1234",
    )
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert "hunter2-db" not in shown
    assert "s3cret-signing-key" not in shown
    assert not settings.embedded


def test_production_refuses_a_weak_signing_secret(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, env="production", jwt_secret="changeme")
    with pytest.raises(ConfigError, match="CHAIRSIDE_JWT_SECRET"):
        settings.effective_jwt_secret()


def test_development_makes_a_random_secret_once_and_keeps_it(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, env="development")
    first = settings.effective_jwt_secret()
    assert len(first) >= 32
    assert load_settings(home=tmp_path).effective_jwt_secret() == first
    assert oct((tmp_path / "jwt-secret").stat().st_mode & 0o777) == "0o600"


def test_without_database_url_chairside_runs_embedded_under_a_relative_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.embedded
    assert settings.home == tmp_path / "var"


def test_fewer_threads_than_pooled_connections_is_refused_naming_both() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(api_threads=4, db_pool_size=8, database_url="postgresql://u:p@h/d")
    assert "CHAIRSIDE_API_THREADS=4" in caught.value.message
    assert "CHAIRSIDE_DB_POOL_SIZE=8" in caught.value.message
    assert "postgresql://" not in caught.value.message  # never echoes the other settings


def test_workers_times_the_pool_must_fit_the_connection_budget() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(workers=8, db_pool_size=10, db_max_connections=90)
    assert "CHAIRSIDE_WORKERS=8" in caught.value.message
    assert "96 connections" in caught.value.message
    assert load_settings(workers=7, db_pool_size=10, db_max_connections=90).workers == 7


def test_more_booking_threads_than_pooled_connections_is_refused() -> None:
    with pytest.raises(ConfigError, match="CHAIRSIDE_BOOKING_THREADS=12"):
        load_settings(booking_threads=12, api_threads=20, db_pool_size=10)
