"""RPO of each WAL mode, measured by losing the database: kill tests for async, stream and sync.

    flock /tmp/chairside-bench.lock .venv/bin/python -m bench.dr.bench_rpo \
        [--rounds 3] [--seconds 15] [--rate 100] [--archive-timeout 10] [--modes async,stream,sync]

Per mode and round: a fresh cluster (16 MB WAL segments) archiving into a fresh
repository, ``backup full``, then a writer committing single-row transactions at
``--rate`` per second for ``--seconds``, ``backup status`` read every 0.5 s as a monitor
would (and once more right before the kill), ``kill -9`` of the postmaster and all its
children, and ``restore full`` to latest into a copy. Reported: acknowledged commits
missing from the copy and the time they span, against what ``backup status`` said was
at risk just before the kill.

- ``async``: ``archive_command`` only, ``archive_timeout = --archive-timeout``;
- ``stream``: plus ``wal stream`` (pg_receivewal, asynchronous), its partial segment
  pushed every second;
- ``sync``: plus ``wal stream --synchronous`` (commits wait for the receiver's flush).

The receiver's spool is under the benchmark's home, not the database's data
directory: it stands for the receiver on another machine, which survives the kill.
Rounds are printed one by one, then per mode (the anchor is the mode's promise:
``archive_timeout`` for async, about a second for stream, 0 for sync).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import datetime
from typing import Any

from tests.ops.backup.helpers import backup_env
from tests.ops.restore.helpers import copy_conninfo, stop_copy
from tests.support.killrounds import SteadyWriter, count_loss, kill_postgres
from tests.support.servers import ClusterFactory, remove_tree, scratch_dir

from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.backup.status import backup_status
from chairside.ops.backup.streaming import WalStreamer
from chairside.ops.restore import service
from chairside.ops.restore.targets import LATEST


class _SixteenMegabyteFactory(ClusterFactory):
    def make(self, name: str | None = None, **kwargs: Any) -> Any:
        kwargs["wal_segsize_mb"] = None
        return super().make(name, **kwargs)


def run_round(mode: str, args: argparse.Namespace, factory: ClusterFactory) -> dict[str, Any]:
    """One kill round of ``mode``; returns its figures."""
    wal_mode = {"async": "archive", "stream": "stream", "sync": "sync"}[mode]
    with backup_env(
        factory, wal_mode=wal_mode, wal_archive_timeout_seconds=args.archive_timeout
    ) as env:
        take_full_backup(env.settings)
        streamer = None
        thread = None
        if mode in ("stream", "sync"):
            streamer = WalStreamer.from_settings(env.settings, synchronous=mode == "sync")
            thread = threading.Thread(target=streamer.run, daemon=True)
            thread.start()
            deadline = time.monotonic() + 30
            while not env.sql("SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'"):
                assert time.monotonic() < deadline, "the receiver never connected"
                time.sleep(0.1)
        try:
            writer = SteadyWriter(env.cluster.conninfo(), rate=args.rate)
            writer.start()
            began = time.monotonic()
            while time.monotonic() - began < args.seconds:
                backup_status(env.settings)
                time.sleep(0.5)
            reported = backup_status(env.settings).wal
            killed_at = kill_postgres(env.cluster)
            reported_at = datetime.fromisoformat(reported["rpo_at"]).timestamp()
            writer.stop()
            if streamer is not None:
                # The receiver pushes what it flushed last once it has lost the server.
                deadline = time.monotonic() + 15
                while streamer.pushed_after_loss == 0:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
            result = service.restore_database(
                env.settings, request=service.RestoreRequest(target=LATEST, to=env.root / "copy")
            )
            try:
                loss = count_loss(writer, copy_conninfo(result))
            finally:
                stop_copy(result.data_dir)
        finally:
            if streamer is not None and thread is not None:
                streamer.stop()
                thread.join(timeout=30)
        return {
            "mode": mode,
            **loss.to_dict(),
            "status_rpo_seconds": reported["rpo_seconds"],
            "status_rpo_bytes": reported["rpo_bytes"],
            "status_basis": reported["rpo_basis"],
            "status_to_kill_seconds": round(killed_at - reported_at, 3),
            "within_status": loss.seconds
            <= (reported["rpo_seconds"] or 0) + (killed_at - reported_at) + 0.05,
            "end_from_partial": result.preview.plan.chain.partial,
            "restore_seconds": round(result.seconds, 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--archive-timeout", type=int, default=10)
    parser.add_argument("--modes", default="async,stream,sync")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = scratch_dir("chairside-bench-rpo-")
    factory = _SixteenMegabyteFactory(root / "clusters")
    rounds: list[dict[str, Any]] = []
    try:
        for mode in args.modes.split(","):
            for number in range(1, args.rounds + 1):
                figures = run_round(mode, args, factory)
                figures["round"] = number
                rounds.append(figures)
                if not args.json:
                    print(
                        f"{mode:6} round {number}: {figures['missing_acknowledged']:5d} of "
                        f"{figures['acknowledged']} acknowledged commits missing, "
                        f"{figures['lost_seconds']:6.2f} s lost; status said "
                        f"{figures['status_rpo_seconds']} s / {figures['status_rpo_bytes']} B "
                        f"({figures['status_basis']}) {figures['status_to_kill_seconds']} s "
                        f"before the kill; end from partial: {figures['end_from_partial']}",
                        flush=True,
                    )
    finally:
        factory.stop_all()
        remove_tree(root)
    if args.json:
        print(json.dumps({"archive_timeout": args.archive_timeout, "rounds": rounds}, indent=2))
        return
    for mode in args.modes.split(","):
        mine = [r for r in rounds if r["mode"] == mode]
        print(
            f"{mode:6}: lost commits {[r['missing_acknowledged'] for r in mine]}, lost seconds "
            f"{[r['lost_seconds'] for r in mine]}, within the status figure: "
            f"{all(r['within_status'] for r in mine)}"
        )


if __name__ == "__main__":
    main()
