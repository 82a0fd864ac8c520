"""wrk, the C HTTP load generator, driven by a Lua script that reports in JSON.

The contract with a script: its ``done(summary, latency, requests)`` writes one line
``WRK_RESULT {...}`` holding a JSON object; :func:`run_wrk` returns that object. What the
object holds is the script's business (see bench/booking/load.lua for one).

wrk is a C client on epoll, so on a small machine it takes far less CPU from the server
it measures than a Python client would, and compares fairly with pgbench, also C.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULT_PREFIX = "WRK_RESULT "


def require_wrk() -> str:
    """The wrk binary's path, or exit telling how to install it."""
    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    return binary


def run_wrk(
    url: str,
    *,
    script: Path,
    connections: int,
    seconds: float,
    threads: int = 1,
    script_args: Sequence[str] = (),
) -> dict[str, Any]:
    """Drive ``url`` for ``seconds`` and return the JSON object the script's done() wrote."""
    command = [
        require_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        # Requests slower than wrk's default 2 s would be counted as timeouts, not measured.
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(script),
        url,
        "--",
        *script_args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next(
        (ln for ln in result.stdout.splitlines() if ln.startswith(RESULT_PREFIX)),
        None,
    )
    if result.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed against {url}:\n{result.stdout}\n{result.stderr}")
    figures: dict[str, Any] = json.loads(line.removeprefix(RESULT_PREFIX))
    return figures
