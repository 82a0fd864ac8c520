"""`restore interactive`, driven through a real terminal (pexpect): answers are checked,
the plan is shown before anything happens, and "no" changes nothing."""

from __future__ import annotations

import pexpect
import pytest

from chairside.ops.backup.basebackup import take_full_backup
from tests.ops.backup.helpers import CHAIRSIDE, backup_env
from tests.ops.restore.helpers import marker_ids, stop_copy, track_commit_times, write_markers
from tests.support.servers import ClusterFactory

pytestmark = pytest.mark.slow


def test_the_menu_restores_a_chosen_time_after_showing_the_plan(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory) as env:
        track_commit_times(env)
        take_full_backup(env.settings)
        markers = write_markers(env, range(1, 4), pad_bytes=10_000)
        terminal_env = {**env.env(), "COLUMNS": "200", "TERM": "xterm", "NO_COLOR": "1"}

        menu = pexpect.spawn(CHAIRSIDE, ["restore", "interactive"], env=terminal_env,
                             encoding="utf-8", timeout=60, dimensions=(50, 220))  # fmt: skip
        menu.expect("Recoverable window:")
        menu.expect("Restore to .*: ")
        menu.sendline("3")
        menu.expect("Target time.*: ")
        menu.sendline("tuesday-ish")
        menu.expect("'tuesday-ish' is not a time")
        menu.expect("Target time.*: ")
        menu.sendline("2001-02-03T04:05:06Z")  # before the first backup
        menu.expect("2001-02-03T04:05:06\\+00:00 is outside the recoverable window")
        menu.expect("Target time.*: ")
        menu.sendline(markers[1].committed_at.isoformat())
        menu.expect("Restore plan")
        menu.expect("Proceed with this restore\\?.*: ")
        menu.sendline("y")
        menu.expect("Restored.* backup .* in ")
        menu.expect("\\(port (\\d+)\\)")
        port = int(menu.match.group(1))
        menu.expect(pexpect.EOF)
        menu.close()
        assert menu.exitstatus == 0

        [data_dir] = list((env.settings.home / "restores").glob("*/data"))
        try:
            socket_dir = data_dir.parent / "run"
            assert marker_ids(f"host={socket_dir} port={port} user=postgres") == [1, 2]
        finally:
            stop_copy(data_dir)

        cancelled = pexpect.spawn(CHAIRSIDE, ["restore", "interactive"], env=terminal_env,
                                  encoding="utf-8", timeout=60, dimensions=(50, 220))  # fmt: skip
        cancelled.expect("Restore to .*: ")
        cancelled.sendline("1")
        cancelled.expect("Proceed with this restore\\?.*: ")
        cancelled.sendline("n")
        cancelled.expect("cancelled at the prompt; nothing was changed")
        cancelled.expect(pexpect.EOF)
        cancelled.close()
        assert cancelled.exitstatus == 3
        assert len(list((env.settings.home / "restores").glob("*/data"))) == 1
