"""A local PostgreSQL cluster: create, configure, start, stop, recover from a crash.

The cluster runs as the ``postgres`` OS user when Chairside runs as root. Its settings
live in ``chairside.conf`` inside the data directory, included from ``postgresql.conf``;
:meth:`PostgresCluster.configure` is the seam other parts use to change them (the
backup side sets ``archive_mode`` and ``archive_command`` through it).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from chairside.errors import BinaryNotFoundError, ComponentError, PortInUseError
from chairside.runtime.binaries import find_pg_bin_dir
from chairside.runtime.osuser import OsUser, hand_over, run_as, server_user
from chairside.runtime.ports import port_in_use

CONF_FILE = "chairside.conf"
SUPERUSER = "postgres"


@dataclass
class PostgresCluster:
    """One PostgreSQL cluster on this machine, listening on loopback ``port``."""

    data_dir: Path
    port: int
    password: str
    log_file: Path
    socket_dir: Path
    bin_dir: Path = field(default_factory=find_pg_bin_dir)
    host: str = "127.0.0.1"
    user: OsUser = field(default_factory=server_user)

    # ---- paths and connection strings -------------------------------------------------

    def binary(self, name: str) -> str:
        """Full path of one of the server's programs (``pg_ctl``, ``pg_basebackup``…)."""
        path = self.bin_dir / name
        if not path.exists():
            raise BinaryNotFoundError(f"{name} not found in {self.bin_dir}")
        return str(path)

    def conninfo(self, dbname: str = "postgres") -> str:
        """A libpq connection string for psycopg."""
        return (
            f"host={self.host} port={self.port} user={SUPERUSER} "
            f"password={self.password} dbname={dbname} connect_timeout=5"
        )

    def url(self, dbname: str = "postgres") -> str:
        """An SQLAlchemy URL (psycopg 3 driver)."""
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@{self.host}:{self.port}/{dbname}"

    @property
    def exists(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    # ---- lifecycle ---------------------------------------------------------------------

    def init(self, *, wal_segsize_mb: int | None = None, durable: bool = True) -> None:
        """Run ``initdb`` (data checksums, UTF-8, scram on TCP, trust on the private socket)."""
        if self.exists:
            return
        self._check_reachable_by_server_user(self.data_dir.parent)
        hand_over(self.data_dir, self.user)
        hand_over(self.socket_dir, self.user)
        pwfile = self.data_dir.parent / f".pwfile-{os.getpid()}"
        pwfile.write_text(self.password + "\n")
        try:
            if not self.user.is_current:
                assert self.user.uid is not None and self.user.gid is not None
                os.chown(pwfile, self.user.uid, self.user.gid)
            pwfile.chmod(0o600)
            argv = [
                self.binary("initdb"),
                "-D", str(self.data_dir),
                "-U", SUPERUSER,
                "--data-checksums",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            ]  # fmt: skip
            if wal_segsize_mb:
                argv.append(f"--wal-segsize={wal_segsize_mb}")
            if not durable:
                argv.append("--no-sync")
            result = run_as(self.user, argv, check=False)
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ComponentError(f"initdb failed for {self.data_dir}: {result.stderr.strip()}")
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write(f"\ninclude_if_exists = '{CONF_FILE}'\n")
        base = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "logging_collector": "off",
            "log_line_prefix": "%m [%p] %q%u@%d ",
            "log_min_duration_statement": "1000",
        }
        if not durable:
            base.update({"fsync": "off", "synchronous_commit": "off"})
        self.configure(base)

    def configure(self, settings: Mapping[str, str]) -> None:
        """Merge ``settings`` into ``chairside.conf``; applied at the next start or reload."""
        current = self.read_config()
        current.update(settings)
        lines = [f"{key} = '{_quote(value)}'" for key, value in sorted(current.items())]
        path = self.data_dir / CONF_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            "# Written by chairside; edit through chairside.\n" + "\n".join(lines) + "\n"
        )
        if not self.user.is_current:
            assert self.user.uid is not None and self.user.gid is not None
            os.chown(tmp, self.user.uid, self.user.gid)
        tmp.replace(path)

    def read_config(self) -> dict[str, str]:
        """The settings Chairside has written into ``chairside.conf``."""
        path = self.data_dir / CONF_FILE
        if not path.exists():
            return {}
        values = {}
        for line in path.read_text().splitlines():
            if "=" not in line or line.lstrip().startswith("#"):
                continue
            key, _, raw = line.partition("=")
            values[key.strip()] = raw.strip().strip("'").replace("''", "'")
        return values

    def start(self, *, timeout: int = 60) -> None:
        """Start the server and wait until it accepts connections; adopt it if it runs."""
        if not self.exists:
            raise ComponentError(f"no PostgreSQL cluster in {self.data_dir}; create it first")
        self.clear_stale_pid()
        if self.is_running():
            self.wait_ready(timeout=timeout)
            return
        if port_in_use(self.port, self.host):
            raise PortInUseError(
                f"port {self.port} on {self.host} is taken by another program, so PostgreSQL "
                f"for {self.data_dir} cannot start; stop that program or choose another port "
                "(CHAIRSIDE_PG_PORT)"
            )
        self._prepare_log()
        hand_over(self.socket_dir, self.user)
        argv = [self.binary("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                "-w", "-t", str(timeout), "start"]  # fmt: skip
        result = run_as(self.user, argv, check=False, timeout=timeout + 10, capture=True)
        for _ in range(20):
            # After a crash, the dead postmaster's children take a moment to notice and
            # exit; until then PostgreSQL refuses to reuse their shared memory.
            if result.returncode == 0 or "still in use" not in self.log_tail(5):
                break
            time.sleep(0.5)
            result = run_as(self.user, argv, check=False, timeout=timeout + 10, capture=True)
        if result.returncode != 0:
            raise ComponentError(
                f"PostgreSQL in {self.data_dir} did not start: "
                f"{result.stderr.strip() or result.stdout.strip()}\n{self.log_tail()}"
            )
        self.wait_ready(timeout=timeout)

    def stop(self, *, mode: str = "fast", timeout: int = 60) -> None:
        """Stop the server if it runs; escalate to ``immediate`` if ``fast`` hangs."""
        self.clear_stale_pid()
        if not self.is_running():
            return
        argv = [self.binary("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w",
                "-t", str(timeout), "stop"]  # fmt: skip
        result = run_as(self.user, argv, check=False, timeout=timeout + 10)
        if result.returncode != 0 and self.is_running():
            argv[argv.index(mode)] = "immediate"
            run_as(self.user, argv, check=False, timeout=timeout + 10)

    def reload(self) -> None:
        """Ask the running server to re-read its configuration."""
        run_as(self.user, [self.binary("pg_ctl"), "-D", str(self.data_dir), "reload"])

    def postmaster_pid(self) -> int | None:
        """The pid in ``postmaster.pid``, if that process is alive and is a postgres."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            first = pid_file.read_text().splitlines()[0]
            pid = int(first)
        except (FileNotFoundError, IndexError, ValueError, PermissionError):
            return None
        return pid if _is_postgres_process(pid) else None

    def is_running(self) -> bool:
        return self.postmaster_pid() is not None

    def clear_stale_pid(self) -> bool:
        """Remove the lock files a crash left behind; True when there were some.

        PostgreSQL cleans up after a dead postmaster itself, except where the dead pid
        still looks alive: in containers whose init does not reap, a killed postmaster
        stays a zombie, and its ``postmaster.pid`` and socket lock then block a start.
        """
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists() or self.postmaster_pid() is not None:
            return False
        pid_file.unlink(missing_ok=True)
        for lock in self.socket_dir.glob(f".s.PGSQL.{self.port}.lock"):
            lock.unlink(missing_ok=True)
        for stale_socket in self.socket_dir.glob(f".s.PGSQL.{self.port}"):
            stale_socket.unlink(missing_ok=True)
        return True

    def wait_ready(self, *, timeout: float = 60) -> None:
        """Wait until the server accepts connections from a client."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.conninfo(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last_error = exc
                if not self.is_running():
                    # Waiting longer cannot help: say why it died (it is in the log).
                    raise ComponentError(
                        f"PostgreSQL on port {self.port} stopped while starting:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.1)
        raise ComponentError(
            f"PostgreSQL on port {self.port} did not accept connections within {timeout}s: "
            f"{last_error}"
        )

    def wait_recovery_done(self, *, timeout: float = 300) -> None:
        """Wait until recovery ends; ``pg_ctl -w start`` returns before PITR has finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with psycopg.connect(self.conninfo(), connect_timeout=2) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is not None and not row[0]:
                return
            if not self.is_running():
                raise ComponentError(f"PostgreSQL stopped during recovery:\n{self.log_tail()}")
            time.sleep(0.2)
        raise ComponentError(f"recovery in {self.data_dir} did not finish within {timeout}s")

    # ---- helpers -----------------------------------------------------------------------

    def create_database(self, name: str, *, template: str | None = None) -> None:
        """Create database ``name`` unless it exists."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone():
                return
            sql = f'CREATE DATABASE "{name}"'
            if template:
                sql += f' TEMPLATE "{template}"'
            conn.execute(sql.encode())

    def system_identifier(self) -> str:
        """The cluster's system identifier, which tells backups of clusters apart."""
        with psycopg.connect(self.conninfo()) as conn:
            row = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
        assert row is not None
        return str(row[0])

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no server log yet)"

    def _prepare_log(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.touch(exist_ok=True)
        if not self.user.is_current:
            assert self.user.uid is not None and self.user.gid is not None
            os.chown(self.log_file, self.user.uid, self.user.gid)

    def _check_reachable_by_server_user(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.user.is_current:
            return
        probe = run_as(self.user, ["test", "-x", str(path)], check=False)
        if probe.returncode != 0:
            raise ComponentError(
                f"the '{self.user.name}' user cannot reach {path} (a parent directory such as "
                "/root is not traversable); put CHAIRSIDE_HOME somewhere it can reach, "
                "for example /var/lib/chairside or a directory under /tmp"
            )


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _is_postgres_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return b"postgres" in cmdline


def pg_major_version(bin_dir: Path) -> int:
    """The major version of the server binaries in ``bin_dir``."""
    out = subprocess.run(
        [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[-1].split(".")[0])
