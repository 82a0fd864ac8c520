"""Settings: one pydantic-settings class, built by :func:`get_settings`, never at import.

Variables carry the ``CHAIRSIDE_`` prefix, except the conventional ``DATABASE_URL`` and
``REDIS_URL``. With no ``DATABASE_URL`` Chairside runs its embedded default: a local
PostgreSQL cluster (and Redis, when installed) under ``CHAIRSIDE_HOME``.
Secrets are ``SecretStr`` so that printing or logging the settings never shows them.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from chairside.errors import ConfigError

Environment = Literal["development", "test", "production"]

# Secrets that ship in examples and must never sign a production token.
_KNOWN_WEAK_SECRETS = {"", "secret", "changeme", "change-me", "development", "dev"}
# Connections a worker may open beyond its pool: the health probe, /metrics, the ops
# console, which are not admitted through the pool's queue (api/admission.py).
DB_POOL_RESERVE = 2


class Settings(BaseSettings):
    """Everything Chairside can be configured with, from the environment or a `.env` file."""

    model_config = SettingsConfigDict(
        env_prefix="CHAIRSIDE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    env: Environment = "development"
    home: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Threads per API worker process for blocking work (database, Redis). More threads
    # than pooled connections only wait, and fight over the GIL: at 50 concurrent
    # clients, 40 threads (anyio's default) halved a worker's throughput.
    api_threads: int = Field(default=10, ge=1, le=200)
    # How many threads of a worker may create bookings at once (the busiest write); the
    # rest wait in the event loop. Creation waits on nothing but PostgreSQL and Redis, so
    # more threads only contend. bench/booking, 2 workers, 50 clients, booking/s: 1 thread
    # 554-602, 2: 559-560, 3: 552-585, 4: 506-535, 8: 486-512. 2 rather than 1, so that
    # one booking waiting on another's lock (a race for one slot) does not stall a worker.
    booking_threads: int = Field(default=2, ge=1, le=200)
    # Capacity (docs/architecture.md, "Capacity"): a worker serves at most
    # db_pool_size requests that use the database at once, one pooled connection each;
    # up to admission_queue more wait (in the event loop, holding neither a thread nor a
    # connection) for at most admission_wait_seconds; past either, 503 + Retry-After.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    admission_queue: int = Field(default=100, ge=0, le=10000)
    admission_wait_seconds: float = Field(default=1.0, gt=0, le=30)
    # API worker processes (`chairside up --workers`), and the connections the server
    # lets all of them hold: workers x (db_pool_size + DB_POOL_RESERVE) must fit.
    workers: int = Field(default=1, ge=1, le=64)
    db_max_connections: int = Field(default=90, ge=1, le=100000)

    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "CHAIRSIDE_DATABASE_URL")
    )
    redis_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "CHAIRSIDE_REDIS_URL")
    )
    ops_store_url: SecretStr | None = None

    # --- past one machine (docs/production.md) ---------------------------------------
    # Reads that may lag (search, availability) go here, e.g. HAProxy's replica port,
    # while the replica's replay lag is at most replica_max_lag_seconds; else the leader.
    database_read_url: SecretStr | None = None
    # The API's request pool connects here when set: PgBouncer in transaction mode in
    # front of the leader (server-side prepared statements are then off). Migrations,
    # the schedule's leader lock and ops commands keep DATABASE_URL: they need a session.
    database_pooler_url: SecretStr | None = None
    replica_max_lag_seconds: float = Field(default=1.0, ge=0, le=3600)
    # Redis through Sentinel: "host:port,host:port" of the sentinels and the master's
    # name. Set, it wins over REDIS_URL.
    redis_sentinels: str = ""
    redis_sentinel_master: str = "chairside"
    # The topology file (YAML, or the lab's topology.json): `status` reports every host.
    topology: Path | None = None
    # The release this host runs (a label the rolling deploy sets, docs/cli.md
    # "Rolling deploy"); unset, the package version. Sent as X-Chairside-Release.
    release: str | None = Field(default=None, max_length=64)

    # Embedded runtime. A port of 0 means "pick a free one on first start, then keep it".
    pg_bin_dir: Path | None = None
    pg_port: int = Field(default=0, ge=0, le=65535)
    redis_server_bin: str = "redis-server"
    redis_port: int = Field(default=0, ge=0, le=65535)
    embedded_redis: bool = True
    # `chairside up` runs the ops schedule (`chairside schedule list`) in-process on its
    # embedded default; off leaves it to `chairside schedule run`, cron or systemd.
    schedule_in_process: bool = True

    # Modes. Maintenance answers 503 everywhere but health and metrics; read-only refuses
    # writes. Both can also be switched at run time with `chairside maintenance-mode`.
    maintenance_mode: bool = False
    read_only: bool = False
    maintenance_retry_after: int = Field(default=300, ge=1, le=86400)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True

    # --- booking side (accounts, shops, bookings, payments) -----------------------
    jwt_secret: SecretStr = SecretStr("")
    access_token_minutes: int = Field(default=15, ge=1, le=1440)
    refresh_token_days: int = Field(default=14, ge=1, le=365)
    # argon2id cost; the default is OWASP's 19 MiB / t=2 recommendation.
    password_hash_memory_kib: int = Field(default=19456, ge=1024)
    password_hash_time_cost: int = Field(default=2, ge=1, le=10)
    # Password hashes computed at once per worker (CPU-bound); default: the CPUs shared
    # among the workers, at least 1 (accounts/passwords.py says why).
    password_hash_concurrency: int | None = Field(default=None, ge=1, le=64)
    booking_hold_minutes: int = Field(default=15, ge=1, le=1440)
    # Longest life of a cached availability answer (Redis); changes made through the app
    # drop it at once, this bounds only changes made around it. 0 turns the cache off.
    availability_cache_seconds: int = Field(default=30, ge=0, le=3600)
    # Requests per window per caller (login: per e-mail and address; others per caller).
    rate_limit_login: int = Field(default=10, ge=1)
    rate_limit_register: int = Field(default=20, ge=1)
    rate_limit_bookings: int = Field(default=30, ge=1)
    rate_limit_window_seconds: int = Field(default=60, ge=1, le=86400)
    # Failed logins per window from one address across every account (password spraying),
    # and from everyone together (a distributed attack), on top of the per-account limit.
    rate_limit_login_failures_per_address: int = Field(default=30, ge=1)
    rate_limit_login_failures_global: int = Field(default=3000, ge=1)
    # Proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated);
    # empty: the peer's address is the client's (api/client_address.py).
    trusted_proxies: str = ""
    payment_provider: Literal["simulated", "stripe"] = "simulated"
    simulated_webhook_secret: SecretStr = SecretStr("")
    # "http": POST due webhooks to simulated_webhook_url (default: this server's own
    # endpoint); "manual": leave them in the outbox (tests deliver them themselves).
    simulated_webhook_delivery: Literal["http", "manual"] = "http"
    simulated_webhook_url: str | None = None
    simulated_webhook_delay_seconds: float = Field(default=2.0, ge=0, le=3600)
    stripe_api_key: SecretStr = SecretStr("")
    stripe_webhook_secret: SecretStr = SecretStr("")
    stripe_api_base: str | None = None
    # Data rights: clients with no login and no booking activity for this many months
    # are anonymised by the retention job (`chairside privacy retention`, docs/web.md).
    privacy_inactive_months: int = Field(default=24, ge=1, le=600)

    # --- backups and restores -------------------------------------------------------
    # Where backups and WAL go: a path, file://PATH or s3://bucket/prefix.
    # Default: $CHAIRSIDE_HOME/backups (see backup_repository_url).
    backup_repository: str | None = None
    # A 32-byte key (raw or 64 hex). Set = encryption on: without a readable key,
    # nothing is written or restored (never plaintext by accident).
    backup_key_file: Path | None = None
    # zstd level for backups and WAL: 1 measured ~2.5x faster than 3 for 0-5% more bytes.
    backup_compression_level: int = Field(default=1, ge=1, le=19)
    # zstd threads the server uses to compress a full backup (0: the backend alone).
    backup_compression_workers: int = Field(default=2, ge=0, le=64)
    # Where `backup full` copies the data files from: "primary" (DATABASE_URL's server) or
    # "replica" (a streaming replica Patroni names in CHAIRSIDE_TOPOLOGY, as pgBackRest's
    # backup-standby: the leader serves only the backup's start and stop).
    backup_from: Literal["primary", "replica"] = "primary"
    # Retention: keep the newest N full backups and every full backup needed to
    # recover to any moment in the window; never fewer than the minimum.
    backup_retention_count: int = Field(default=7, ge=0)
    backup_retention_days: float = Field(default=7.0, ge=0)
    backup_retention_minimum: int = Field(default=2, ge=1)
    # `backup status` thresholds (age of the newest good full backup / archived WAL).
    # Unset: derived from the schedule and archive_timeout (ops/thresholds.py).
    backup_warning_hours: float | None = Field(default=None, gt=0)
    backup_critical_hours: float | None = Field(default=None, gt=0)
    wal_warning_minutes: float | None = Field(default=None, gt=0)
    wal_critical_minutes: float | None = Field(default=None, gt=0)
    # Continuous archiving set up by `chairside up`: "archive" (archive_command), "stream"
    # (pg_receivewal with a slot) or "sync" (stream + synchronous commit: no loss).
    wal_mode: Literal["archive", "stream", "sync", "off"] = "archive"
    # Force a WAL switch after this many idle-but-dirty seconds (bounds the RPO).
    wal_archive_timeout_seconds: int = Field(default=60, ge=0, le=86400)
    # How long `backup incremental` waits for the switched segment to reach the repository.
    wal_confirm_timeout_seconds: float = Field(default=60.0, gt=0)
    # `wal stream`: push the receiver's growing .partial segment this often (when changed).
    wal_partial_push_seconds: float = Field(default=1.0, gt=0, le=3600)
    # Sync mode without a connected synchronous receiver: "strict" lets commits wait,
    # "fallback" clears synchronous_standby_names after wal_sync_fallback_seconds.
    wal_sync_policy: Literal["strict", "fallback"] = "fallback"
    wal_sync_fallback_seconds: float = Field(default=10.0, gt=0, le=3600)
    # A replication slot keeping more WAL than this on the server is a warning.
    wal_slot_warning_mb: int = Field(default=1024, ge=1)

    # --- disaster recovery (S3 repositories, sync, drills) --------------------------
    # S3 defaults for every s3:// repository; a URL may override them per repository with
    # ?endpoint=…&region=…&addressing=path|virtual&profile=…&sse=AES256|aws:kms.
    # Credentials: these settings when set, otherwise the usual AWS chain (env, profile…).
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_profile: str | None = None
    s3_sse: Literal["none", "AES256", "aws:kms"] = "none"
    s3_sse_kms_key_id: str | None = None
    # Bounded retries so an unreachable store fails in seconds, not minutes.
    s3_max_attempts: int = Field(default=3, ge=1, le=10)
    s3_connect_timeout: float = Field(default=3.0, gt=0, le=120)
    s3_read_timeout: float = Field(default=60.0, gt=0, le=3600)
    s3_multipart_threshold_mb: int = Field(default=64, ge=5, le=5120)
    s3_multipart_chunk_mb: int = Field(default=16, ge=5, le=5120)
    s3_max_concurrency: int = Field(default=4, ge=1, le=64)
    s3_list_page_size: int = Field(default=1000, ge=1, le=1000)
    # DR repositories shown by `backup status` (comma-separated URLs) and the lag that
    # turns their status line to warning / critical.
    dr_repositories: str = ""
    dr_lag_warning_minutes: int = Field(default=120, ge=1)
    dr_lag_critical_minutes: int = Field(default=1440, ge=1)
    # Retention of DR copies (may differ from the primary's). Unset: keep everything
    # synced. Set: keep the newest N full backups and those needed for the window.
    dr_retention_count: int | None = Field(default=None, ge=1)
    dr_retention_days: float | None = Field(default=None, gt=0)
    dr_retention_minimum: int = Field(default=1, ge=1)
    sync_workers: int = Field(default=4, ge=1, le=32)
    # Drills: where scratch clusters go (default $CHAIRSIDE_HOME/drills) and how long
    # the restored cluster may take to become usable before the drill fails.
    drill_dir: Path | None = None
    drill_timeout_seconds: float = Field(default=1800.0, gt=0)
    drill_rto_target_seconds: float | None = Field(default=None, gt=0)
    drill_rpo_target_seconds: float | None = Field(default=None, gt=0)
    # `maintenance system` stops and deletes restored copies (`restore ... --to`) older
    # than this; unset (empty): it only reports them.
    restore_copy_keep_hours: float | None = Field(default=72.0, gt=0)

    # --- health, metrics, alerts, notifications -------------------------------------
    # Defaults are the runbooks' "critical thresholds" (docs/monitoring.md lists them).
    health_api_url: str | None = None  # the running API; default: `chairside up`'s address
    health_db_latency_warning_ms: float = Field(default=500.0, gt=0)
    health_connections_warning_percent: float = Field(default=80.0, gt=0, le=100)
    health_connections_critical_percent: float = Field(default=95.0, gt=0, le=100)
    health_disk_path: Path | None = None  # default: CHAIRSIDE_HOME
    health_disk_warning_percent: float = Field(default=75.0, gt=0, le=100)
    health_disk_critical_percent: float = Field(default=85.0, gt=0, le=100)
    health_memory_warning_percent: float = Field(default=80.0, gt=0, le=100)
    health_memory_critical_percent: float = Field(default=90.0, gt=0, le=100)
    health_tls_endpoints: list[str] = []  # "host:port" (or https:// URLs) to watch
    health_tls_warning_days: float = Field(default=30.0, gt=0)
    health_tls_critical_days: float = Field(default=7.0, gt=0)
    health_error_rate_percent: float = Field(default=5.0, gt=0, le=100)
    health_p95_seconds: float = Field(default=2.0, gt=0)
    health_window_seconds: float = Field(default=300.0, gt=0)
    health_min_requests: int = Field(default=20, ge=1)  # fewer: too few to judge a rate
    health_cache_seconds: float = Field(default=15.0, ge=0)  # reuse results on /metrics
    smoke_timeout_seconds: float = Field(default=10.0, gt=0)
    smoke_stale_hours: float = Field(default=2.0, gt=0)
    smoke_card: str = "4242424242424242"  # simulated test card the canary pays with
    metrics_job: str = "chairside"
    metrics_targets: list[str] = []  # host:port scraped by Prometheus; default host:port
    alertmanager_url: str = "http://127.0.0.1:9093"
    alert_pagerduty_routing_key: SecretStr | None = None  # P1/P2 (critical) page
    alert_slack_webhook_url: SecretStr | None = None  # P2 (warning) chat
    alert_slack_channel: str = "#ops-alerts"
    alert_email_to: str | None = None  # P3 (info) ticket queue
    alert_email_from: str = "alertmanager@localhost"
    alert_smtp_smarthost: str = "localhost:25"
    alert_webhook_url: str | None = None  # every severity, e.g. an incident tool
    notify_urls: SecretStr | None = None  # apprise URLs, separated by spaces or commas
    # Booking reminders (docs/web.md#reminders): channels as "name=apprise-URL" pairs
    # separated by spaces or commas, the URL holding {email} or {phone} where the
    # client's address goes (e.g. "email=mailtos://u:p@smtp.example.com?to={email}
    # sms=twilio://SID:TOKEN@+15550001/{phone}"). None: no reminders are written.
    reminder_channels: SecretStr | None = None
    # A claim outlives any one delivery (apprise's own timeouts are seconds): a worker
    # that holds one past this is presumed dead and its attempt recorded as ambiguous.
    reminder_lease_seconds: float = Field(default=300.0, ge=1, le=86400)
    reminder_max_attempts: int = Field(default=5, ge=1, le=50)
    reminder_backoff_seconds: float = Field(default=60.0, ge=0.1, le=86400)
    reminder_backoff_cap_seconds: float = Field(default=3600.0, ge=1, le=86400)
    # Alert thresholds (ops/thresholds.py): share of failed attempts of one channel over
    # 30 minutes, and how late the oldest due reminder may be.
    reminder_failure_warning_percent: float = Field(default=50.0, gt=0, le=100)
    reminder_delay_warning_minutes: float = Field(default=15.0, gt=0)
    reminder_delay_critical_minutes: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _capacity_adds_up(self) -> Settings:
        """Pool, threads and workers are one budget: refuse settings that contradict it."""
        problems = []
        if self.api_threads < self.db_pool_size:
            problems.append(
                f"CHAIRSIDE_API_THREADS={self.api_threads} is below CHAIRSIDE_DB_POOL_SIZE="
                f"{self.db_pool_size}: admitted requests would wait for a thread while "
                "holding a connection; set threads >= pool size"
            )
        if self.booking_threads > self.db_pool_size:
            problems.append(
                f"CHAIRSIDE_BOOKING_THREADS={self.booking_threads} is above "
                f"CHAIRSIDE_DB_POOL_SIZE={self.db_pool_size}: a booking thread needs a "
                "connection; set booking threads <= pool size"
            )
        needed = self.workers * (self.db_pool_size + DB_POOL_RESERVE)
        if needed > self.db_max_connections:
            problems.append(
                f"CHAIRSIDE_WORKERS={self.workers} x (CHAIRSIDE_DB_POOL_SIZE="
                f"{self.db_pool_size} + {DB_POOL_RESERVE} reserved) = {needed} connections, "
                f"above CHAIRSIDE_DB_MAX_CONNECTIONS={self.db_max_connections}; lower the "
                "pool or the workers, or raise the budget (and PostgreSQL's max_connections)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError:
                    raise ValueError(
                        f"{part.strip()!r} is not an address or network (e.g. 10.0.0.0/8)"
                    ) from None
        return value

    @field_validator("home")
    @classmethod
    def _home_is_absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @property
    def embedded(self) -> bool:
        """True when Chairside manages its own local PostgreSQL cluster."""
        return self.database_url is None

    @property
    def log_dir(self) -> Path:
        return self.home / "log"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def backup_repository_url(self) -> str:
        """The backup repository: CHAIRSIDE_BACKUP_REPOSITORY, or $CHAIRSIDE_HOME/backups."""
        return self.backup_repository or str(self.home / "backups")

    def effective_password_hash_concurrency(self) -> int:
        """Hashes at once per worker: the setting, or this machine's CPUs per worker."""
        if self.password_hash_concurrency is not None:
            return self.password_hash_concurrency
        return max(1, (os.cpu_count() or 1) // self.workers)

    def effective_jwt_secret(self) -> str:
        """The token-signing secret; outside production a random one is made per home."""
        value = self.jwt_secret.get_secret_value()
        if value and value not in _KNOWN_WEAK_SECRETS and len(value) >= 32:
            return value
        if self.env == "production":
            raise ConfigError(
                "CHAIRSIDE_JWT_SECRET is missing or weak; production needs at least 32 "
                "random characters (generate one with: python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        return _development_secret(self.home)


def _development_secret(home: Path) -> str:
    """A random secret kept under CHAIRSIDE_HOME, so tokens survive restarts in development."""
    path = home / "jwt-secret"
    if path.exists():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(value)
    return value


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus ``overrides``; errors name the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc)) from None


def _describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        if not error["loc"]:  # a rule across settings: its message names them (no input:
            problems.append(str(error["msg"]).removeprefix("Value error, "))  # secrets)
            continue
        field = str(error["loc"][0])
        variable = _variable_name(field)
        given = error.get("input")
        problems.append(f"{variable}={given!r}: {error['msg']}")
    return "invalid setting: " + "; ".join(problems)


def _variable_name(field: str) -> str:
    if field in {"database_url", "redis_url", "DATABASE_URL", "REDIS_URL"}:
        return field.upper()
    if field.startswith("CHAIRSIDE_"):
        return field
    return "CHAIRSIDE_" + field.upper()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return load_settings()
