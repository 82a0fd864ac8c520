"""/health latency under load on loopback, against a bare ASGI app in the same run.

    .venv/bin/python -m bench.api.bench_health [--seconds 10] [--connections 10] [--rounds 3]

Starts `chairside up` on a scratch CHAIRSIDE_HOME (embedded PostgreSQL and Redis), then
drives `GET /health` with wrk; then serves bench/api/bare_app.py with the same uvicorn
settings and drives it the same way. Prints median and p95 latency and throughput for
each, and Chairside's figures as ratios of the bare app's. Needs `wrk` (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from chairside.runtime.ports import free_port

LUA = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %f %f %f %d\\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    summary.requests / (summary.duration / 1e6), summary.errors.status + summary.errors.connect))
end
"""


def wait_healthy(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} never answered")


def run_wrk(url: str, seconds: int, connections: int, script: Path) -> tuple[float, float, float]:
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT"))
    p50, p95, rps, errors = line.split()[1:]
    if int(errors):
        raise SystemExit(f"wrk saw {errors} errors against {url}")
    return float(p50), float(p95), float(rps)


def measure(url: str, args: argparse.Namespace, script: Path) -> list[tuple[float, float, float]]:
    run_wrk(url, 2, args.connections, script)  # warm-up
    return [run_wrk(url, args.seconds, args.connections, script) for _ in range(args.rounds)]


def summarize(name: str, rounds: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    p50 = statistics.median(r[0] for r in rounds)
    p95 = statistics.median(r[1] for r in rounds)
    rps = statistics.median(r[2] for r in rounds)
    print(f"{name:<12} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   {rps:9.0f} req/s")
    return p50, p95, rps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    bin_dir = Path(sys.executable).parent
    home = Path(tempfile.mkdtemp(prefix="chairside-bench-"))
    home.chmod(0o755)
    script = home / "report.lua"
    script.write_text(LUA)
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(CHAIRSIDE_HOME=str(home), CHAIRSIDE_LOG_LEVEL="WARNING")

    port = free_port()
    up = subprocess.Popen([str(bin_dir / "chairside"), "up", "--port", str(port)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health")
        chairside = measure(f"http://127.0.0.1:{port}/health", args, script)
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=60)

    bare_port = free_port()
    bare = subprocess.Popen(
        [str(bin_dir / "uvicorn"), "bench.api.bare_app:app", "--port", str(bare_port),
         "--log-level", "warning", "--no-access-log"],
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{bare_port}/")
        anchor = measure(f"http://127.0.0.1:{bare_port}/", args, script)
    finally:
        bare.send_signal(signal.SIGTERM)
        bare.wait(timeout=30)
    shutil.rmtree(home, ignore_errors=True)

    print(f"GET /health, {args.connections} connections, {args.rounds} x {args.seconds}s, "
          "medians of rounds, one uvicorn worker each")  # fmt: skip
    c50, c95, crps = summarize("chairside", chairside)
    a50, a95, arps = summarize("bare ASGI", anchor)
    print(f"ratio        p50 {c50 / a50:5.2f}x     p95 {c95 / a95:5.2f}x     "
          f"throughput {crps / arps:4.2f}x of the bare app")  # fmt: skip


if __name__ == "__main__":
    main()
