"""Each DR repository's newest backup and WAL and its lag behind the primary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chairside.checks import CheckStatus
from chairside.config import Settings
from chairside.ops.backup.sync.lag import dr_repository_lags
from chairside.ops.backup.sync.operation import execute_sync, prepare_sync
from chairside.runtime.ports import free_port

from .conftest import SourceBuilder


def test_a_repository_synced_to_shows_in_sync_then_behind_as_the_primary_moves_on(
    source: SourceBuilder, sync_settings: Settings, dr_url: str
) -> None:
    backup_id = source.backup()
    execute_sync(sync_settings, prepare_sync(sync_settings, target_url=dr_url))

    (in_sync,) = dr_repository_lags(sync_settings)
    assert in_sync.url == dr_url
    assert in_sync.status is CheckStatus.OK and in_sync.lag_seconds == 0
    assert in_sync.newest_backup == backup_id and in_sync.newest_wal is not None
    assert in_sync.last_sync is not None

    source.wal(2)
    (behind,) = dr_repository_lags(sync_settings)
    assert behind.wal_behind == 2 and behind.backups_behind == 0
    assert behind.lag_seconds is not None and behind.lag_seconds < 60

    three_hours_later = datetime.now(UTC) + timedelta(hours=3)
    (late,) = dr_repository_lags(sync_settings, now=three_hours_later)
    assert late.status is CheckStatus.WARNING
    assert "behind the primary" in late.summary


def test_an_unreadable_dr_repository_is_unknown_never_ok(
    source: SourceBuilder, sync_settings: Settings
) -> None:
    source.backup()
    dead = f"s3://dr-bucket/x?endpoint=http://127.0.0.1:{free_port()}"
    settings = sync_settings.model_copy(update={"dr_repositories": dead})

    (lag,) = dr_repository_lags(settings)

    assert lag.status is CheckStatus.UNKNOWN
    assert "cannot read it" in lag.summary and "dr-bucket" in lag.summary


def test_an_empty_dr_repository_is_critical(
    source: SourceBuilder, sync_settings: Settings, dr_url: str
) -> None:
    source.backup()
    settings = sync_settings.model_copy(update={"dr_repositories": dr_url})

    (lag,) = dr_repository_lags(settings)

    assert lag.status is CheckStatus.CRITICAL and "no complete backup" in lag.summary
