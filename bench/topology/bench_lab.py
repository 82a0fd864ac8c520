"""The highly available lab, measured: failover time against Patroni's TTL and loop wait,
and availability throughput with lag-tolerant reads on two replicas against the leader
alone, in the same run.

Failover: for each (ttl, loop_wait, retry_timeout) a fresh lab (no S3) is started and
``chairside drill failover`` kills its leader under a booking load; the figure is kill ->
first successful booking, beside the TTL it is bounded by.

Reads: in the last lab, with the availability cache off
(``CHAIRSIDE_AVAILABILITY_CACHE_SECONDS=0``: no answer comes from Redis, every request
computes availability in PostgreSQL), ``wrk`` drives 14-day availability through
HAProxy's API port, rotating over ``--providers`` providers and 7 start dates (so no two
consecutive requests ask the same thing), alternating rounds with reads on the replicas
(HAProxy's read port as configured) and with the leader alone behind the read port
(replicas in maintenance, the leader's read-port check forced up), same connections,
same seconds. Each round also reports the share of reads that went through the read port
(the API hosts' ``chairside_lag_tolerant_reads_total`` by ``served_by``; in the leader-
alone rounds the read port leads to the leader, so the share stays 100%: it proves the
reads did not fall back) and the rows the leader itself read per request
(``pg_stat_database`` of the leader), which is what moving reads to replicas takes off
the leader.

    flock /tmp/chairside-bench.lock .venv/bin/python -m bench.topology.bench_lab \\
        --timings 6/1/2,10/2/4 --seconds 10 --connections 20 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import psycopg
import yaml

from chairside.ops.drill.booking_load import _account, _auth, _created
from chairside.runtime.lab.layout import LabLayout
from chairside.topology.file import default_topology_text, load_resolved
from chairside.topology.haproxy import haproxy_command


def start_lab(
    base: Path, ttl: int, loop_wait: int, retry: int
) -> tuple[subprocess.Popen[bytes], LabLayout]:
    data = yaml.safe_load(default_topology_text())
    data.pop("s3", None)
    data["postgres"].update(ttl=ttl, loop_wait=loop_wait, retry_timeout=retry)
    data["api"]["environment"] = {"CHAIRSIDE_AVAILABILITY_CACHE_SECONDS": "0"}
    topology_file = base / "topology.yaml"
    topology_file.write_text(yaml.safe_dump(data))
    env = dict(os.environ, CHAIRSIDE_HOME=str(base / "home"))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chairside",
            "lab",
            "up",
            "--json",
            "--topology",
            str(topology_file),
        ],
        env=env,
        stdout=(base / "lab.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    layout = LabLayout(base / "home" / "lab")
    deadline = time.monotonic() + 240
    while layout.read_state().get("ready") is not True:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the lab did not start: {(base / 'lab.log').read_text()[-2000:]}")
        time.sleep(0.5)
    return process, layout


def stop_lab(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def drill(base: Path) -> dict[str, object]:
    env = dict(os.environ, CHAIRSIDE_HOME=str(base / "home"))
    answer = subprocess.run(
        [sys.executable, "-m", "chairside", "drill", "failover", "--yes", "--json",
         "--warmup", "2"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    return dict(json.loads(answer.stdout))


def wrk(
    api: str, paths: list[str], *, connections: int, seconds: int, base: Path
) -> tuple[float, int]:
    """Requests/s and non-2xx answers of ``wrk`` rotating over ``paths``."""
    script = base / "rotate.lua"
    listed = ",\n".join(json.dumps(p) for p in paths)
    script.write_text(
        f"paths = {{\n{listed}\n}}\n"
        "i = 0\n"
        "request = function()\n"
        "  i = i % #paths + 1\n"
        '  return wrk.format("GET", paths[i])\n'
        "end\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
         "-s", str(script), api],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rate, int(bad.group(1)) if bad else 0


def availability_paths(api: str, *, providers: int) -> list[str]:
    """A shop with ``providers`` providers open around the clock; 14-day availability of
    each, from 7 different start dates."""
    with httpx.Client(base_url=api, timeout=30) as http:
        owner = _account(http, "owner")
        shop = _created(
            http.post(
                "/api/v1/shops",
                headers=_auth(owner),
                json={
                    "name": "Bench reads", "address": "Bench Street 1",
                    "latitude": 52.52, "longitude": 13.405, "timezone": "UTC",
                    "currency": "EUR", "min_notice_minutes": 0, "slot_step_minutes": 15,
                },
            )
        )  # fmt: skip
        service = _created(
            http.post(
                f"/api/v1/shops/{shop}/services",
                headers=_auth(owner),
                json={"name": "Cut", "duration_minutes": 30, "price_minor": 100},
            )
        )
        hours = [{"weekday": d, "start": "00:00", "end": "23:45"} for d in range(7)]
        ids = []
        for index in range(providers):
            provider = _created(
                http.post(
                    f"/api/v1/shops/{shop}/providers",
                    headers=_auth(owner),
                    json={"name": f"Bench {index}", "service_ids": [service]},
                )
            )
            http.put(
                f"/api/v1/providers/{provider}/hours", headers=_auth(owner), json={"days": hours}
            ).raise_for_status()
            ids.append(provider)
    first = date.today() + timedelta(days=2)
    paths = []
    for offset in range(7):
        start = first + timedelta(days=offset)
        for provider in ids:
            paths.append(
                f"/api/v1/providers/{provider}/availability?service_id={service}"
                f"&from={start.isoformat()}&to={(start + timedelta(days=13)).isoformat()}"
            )
    return paths


def served_by(layout: LabLayout) -> dict[str, float]:
    """Lag-tolerant reads so far, by who served them, summed over the API hosts."""
    topology = load_resolved(layout.root)
    totals = {"replica": 0.0, "leader": 0.0}
    for host in topology.api.hosts:
        text = httpx.get(f"{host.url}/metrics", timeout=10).text
        for match in re.finditer(
            r'chairside_lag_tolerant_reads_total\{served_by="(\w+)"\} ([\d.e+]+)', text
        ):
            totals[match.group(1)] = totals.get(match.group(1), 0.0) + float(match.group(2))
    return totals


def leader_rows_read(layout: LabLayout) -> int:
    """Rows the current leader has returned and fetched, all its sessions (cumulative)."""
    topology = load_resolved(layout.root)
    from chairside.topology.patroni import cluster_view

    leader = cluster_view(topology).leader
    assert leader is not None
    url = layout.database_url(topology, port=leader.port, host=leader.host)
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        row = conn.execute(
            "SELECT tup_returned + tup_fetched FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def reads_on(layout: LabLayout, *, replicas: bool) -> None:
    """Replicas (as configured) or the leader alone behind HAProxy's read port."""
    topology = load_resolved(layout.root)
    from chairside.topology.patroni import cluster_view

    leader = cluster_view(topology).leader
    assert leader is not None
    sock = layout.haproxy_socket
    for node in topology.postgres.nodes:
        server = f"db_read/{node.name}"
        if replicas:
            haproxy_command(sock, f"set server {server} state ready")
            haproxy_command(sock, f"enable health {server}")
        elif node.name == leader.name:
            haproxy_command(sock, f"disable health {server}")
            haproxy_command(sock, f"set server {server} health up")
            haproxy_command(sock, f"set server {server} state ready")
        else:
            haproxy_command(sock, f"set server {server} state maint")
    time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--timings", default="6/1/2,10/2/4,20/5/7", help="ttl/loop_wait/retry_timeout,..."
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="alternating read rounds")
    parser.add_argument("--providers", type=int, default=8, help="providers the reads rotate over")
    parser.add_argument("--skip-reads", action="store_true", help="failover figures only")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    timings = [tuple(int(x) for x in t.split("/")) for t in args.timings.split(",")]
    print("## Failover: kill -> first successful booking")
    print("| ttl | loop_wait | retry_timeout | failover s | target s | lost | double | 500s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    last: tuple[subprocess.Popen[bytes], LabLayout, Path] | None = None
    for index, (ttl, loop_wait, retry) in enumerate(timings):
        base = Path(tempfile.mkdtemp(prefix="chairside-bench-lab-"))
        base.chmod(0o755)
        process, layout = start_lab(base, ttl, loop_wait, retry)
        report: dict[str, object] = {}
        try:
            report = drill(base)
            print(
                f"| {ttl} | {loop_wait} | {retry} | {report['failover_seconds']} | "
                f"{report['failover_target_seconds']} | {report['committed_lost']} | "
                f"{report['double_bookings']} | "
                f"{report['server_errors']} |",
                flush=True,
            )
        finally:
            if report.get("server_error_samples"):
                print(f"  500s: {report['server_error_samples']}; logs kept in {base}", flush=True)
            if index < len(timings) - 1 or args.skip_reads:
                stop_lab(process)
                if not report.get("server_errors"):
                    shutil.rmtree(base, ignore_errors=True)
            else:
                last = (process, layout, base)
    if last is None:
        return
    process, layout, base = last
    try:
        topology = load_resolved(layout.root)
        api = f"http://{topology.haproxy.host}:{topology.haproxy.api_port}"
        paths = availability_paths(api, providers=args.providers)
        results: dict[str, list[float]] = {"replicas": [], "leader": []}
        leader_rows: dict[str, list[float]] = {"replicas": [], "leader": []}
        through_read_port: dict[str, list[float]] = {"replicas": [], "leader": []}
        errors = 0
        for _ in range(args.rounds):
            for mode in ("replicas", "leader"):
                reads_on(layout, replicas=mode == "replicas")
                served_before, rows_before = served_by(layout), leader_rows_read(layout)
                rate, bad = wrk(
                    api, paths, connections=args.connections, seconds=args.seconds, base=base
                )
                served_after, rows_after = served_by(layout), leader_rows_read(layout)
                requests = max(rate * args.seconds, 1.0)
                replica_reads = served_after["replica"] - served_before["replica"]
                all_reads = replica_reads + served_after["leader"] - served_before["leader"]
                results[mode].append(rate)
                leader_rows[mode].append((rows_after - rows_before) / requests)
                through_read_port[mode].append(replica_reads / max(all_reads, 1.0))
                errors += bad
        reads_on(layout, replicas=True)

        def median(values: list[float]) -> float:
            return sorted(values)[len(values) // 2]

        print()
        print(
            f"## Availability (14 days, cache off, {args.providers} providers x 7 start dates),"
            f" {args.connections} connections, {args.seconds} s x {args.rounds} rounds"
        )
        print(
            "| reads on | requests/s (median) | rounds | vs leader alone |"
            " through the read port | leader rows read per request |"
        )
        print("|---|---:|---|---:|---:|---:|")
        for mode in ("leader", "replicas"):
            rounds = ", ".join(f"{r:.0f}" for r in results[mode])
            print(
                f"| {mode} | {median(results[mode]):.0f} | {rounds} | "
                f"{median(results[mode]) / median(results['leader']):.2f} | "
                f"{median(through_read_port[mode]):.0%} | {median(leader_rows[mode]):.0f} |"
            )
        print(f"non-2xx answers: {errors}")
    finally:
        stop_lab(process)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
