"""The highly available lab, measured: failover time against Patroni's TTL and loop wait,
and availability throughput with lag-tolerant reads on two replicas against the leader
alone, in the same run.

Failover: for each (ttl, loop_wait, retry_timeout) a fresh lab (no S3) is started and
``chairside drill failover`` kills its leader under a booking load; the figure is kill ->
first successful booking, beside the TTL it is bounded by.

Reads: in the last lab (availability cache off, so every request reads the database),
``wrk`` drives one provider's 14-day availability through HAProxy's API port, first with
reads on the replicas (HAProxy's read port as configured), then with the leader alone
behind the read port (replicas in maintenance, the leader's read-port check forced up),
same connections, same seconds.

    flock /tmp/chairside-bench.lock .venv/bin/python -m bench.topology.bench_lab \\
        --timings 6/1/2,10/2/4,20/5/7 --seconds 10 --connections 20
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
from datetime import timedelta
from pathlib import Path

import yaml

from chairside.ops.drill.booking_load import BookingLoad
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


def wrk(url: str, *, connections: int, seconds: int) -> tuple[float, int]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rate, int(bad.group(1)) if bad else 0


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
    parser.add_argument("--skip-reads", action="store_true", help="failover figures only")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    timings = [tuple(int(x) for x in t.split("/")) for t in args.timings.split(",")]
    print("## Failover: kill -> first successful booking")
    print("| ttl | loop_wait | retry_timeout | failover s | lost | double | 500s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    last: tuple[subprocess.Popen[bytes], LabLayout, Path] | None = None
    for index, (ttl, loop_wait, retry) in enumerate(timings):
        base = Path(tempfile.mkdtemp(prefix="chairside-bench-lab-"))
        base.chmod(0o755)
        process, layout = start_lab(base, ttl, loop_wait, retry)
        try:
            report = drill(base)
            print(
                f"| {ttl} | {loop_wait} | {retry} | {report['failover_seconds']} | "
                f"{report['committed_lost']} | {report['double_bookings']} | "
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
        load = BookingLoad(api_url=api, clients=1)
        world = load.prepare()
        first = world.first_slot.date()
        last_day = first + timedelta(days=13)
        url = (
            f"{api}/api/v1/providers/{world.provider_id}/availability?service_id={world.service_id}"
            f"&from={first.isoformat()}&to={last_day.isoformat()}"
        )
        results: dict[str, list[float]] = {"replicas": [], "leader": []}
        errors = 0
        for _ in range(args.rounds):
            for mode in ("replicas", "leader"):
                reads_on(layout, replicas=mode == "replicas")
                rate, bad = wrk(url, connections=args.connections, seconds=args.seconds)
                results[mode].append(rate)
                errors += bad
        reads_on(layout, replicas=True)
        median = {m: sorted(v)[len(v) // 2] for m, v in results.items()}
        print()
        print(
            f"## Availability (14 days, cache off), {args.connections} connections, "
            f"{args.seconds} s x {args.rounds}"
        )
        print("| reads on | requests/s (median) | rounds | vs leader alone |")
        print("|---|---:|---|---:|")
        for mode in ("leader", "replicas"):
            rounds = ", ".join(f"{r:.0f}" for r in results[mode])
            print(
                f"| {mode} | {median[mode]:.0f} | {rounds} | "
                f"{median[mode] / median['leader']:.2f} |"
            )
        print(f"non-2xx answers: {errors}")
    finally:
        stop_lab(process)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
