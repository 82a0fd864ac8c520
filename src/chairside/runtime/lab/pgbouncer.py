"""PgBouncer in transaction mode in front of HAProxy's write port (when the topology
enables it).

Transaction mode gives a server connection to a client for one transaction only, so
hundreds of API workers share ``pool_size`` connections to the leader. What needs a
session of its own (advisory locks held across transactions, ``SET``, server-side
prepared statements) does not survive it: the API's request pool turns prepared
statements off (``CHAIRSIDE_DATABASE_POOLER_URL``), and migrations, the schedule's
leader lock and ops commands keep the write port. Behind HAProxy, a failover closes
PgBouncer's server connections (``shutdown-sessions``) and the next transaction gets a
fresh one to the new leader.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from chairside.errors import BinaryNotFoundError
from chairside.runtime.lab.layout import SUPERUSER, LabLayout
from chairside.runtime.lab.process import Daemon
from chairside.runtime.osuser import OsUser, hand_over
from chairside.topology.model import Topology


def render_pgbouncer_config(topology: Topology, *, auth_file: Path) -> str:
    """The whole ``pgbouncer.ini``: one database, to HAProxy's write port."""
    bouncer = topology.pgbouncer
    hp = topology.haproxy
    database = topology.postgres.database
    return f"""; Written by chairside; see docs/production.md.
[databases]
{database} = host={hp.host} port={hp.db_write_port} dbname={database}

[pgbouncer]
listen_addr = {bouncer.host}
listen_port = {bouncer.port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {auth_file}
admin_users = {SUPERUSER}
pool_mode = transaction
default_pool_size = {bouncer.pool_size}
max_client_conn = {bouncer.max_client_conn}
; a server connection HAProxy closed (failover) is noticed and replaced
server_check_delay = 1
server_login_retry = 1
ignore_startup_parameters = extra_float_digits
"""


def render_pgbouncer_userlist(password: str) -> str:
    """``userlist.txt``: the one role the API connects as, and its password."""
    quoted = password.replace('"', '""')
    return f'"{SUPERUSER}" "{quoted}"\n'


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or shutil.which("/usr/sbin/pgbouncer")
    if found is None:
        raise BinaryNotFoundError(
            "pgbouncer is not installed; install it with: apt-get install pgbouncer "
            "(or scripts/install-system-deps.sh lab)"
        )
    return found


def pgbouncer_daemon(topology: Topology, *, layout: LabLayout, user: OsUser) -> Daemon:
    """PgBouncer of the lab, as ``user`` (it refuses to run as root), its configuration
    and user list in a directory of that user's under the lab's."""
    work = layout.root / "pgbouncer"
    hand_over(work, user)
    files = {
        work / "userlist.txt": render_pgbouncer_userlist(layout.secrets()["superuser_password"]),
        work / "pgbouncer.ini": render_pgbouncer_config(topology, auth_file=work / "userlist.txt"),
    }
    for path, text in files.items():
        path.touch(mode=0o600)
        path.write_text(text)
        if not user.is_current:
            assert user.uid is not None and user.gid is not None
            os.chown(path, user.uid, user.gid)
    return Daemon(
        name="pgbouncer",
        role="pgbouncer",
        argv=[pgbouncer_binary(), str(work / "pgbouncer.ini")],
        log_file=layout.log_file("pgbouncer"),
        user=user,
    )
