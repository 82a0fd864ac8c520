"""How long `chairside` spends importing before a command starts, from `python -X importtime`.

Usage: python bench/cli/bench_startup.py [--python PATH] [--runs N] -- ARGS...

Prints the median total import time (every top-level import the run made, including the
command's own service) and, as the anchor, the median of `python -X importtime -c pass`
measured in the same run, so figures from a loaded machine stay comparable.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile


def import_seconds(
    python: str, args: list[str], prefix: str, exclude: tuple[str, ...] = ()
) -> float:
    """Total import time of one run (microseconds summed over top-level imports) in s.

    ``exclude``: top-level modules left out (the command's own service, imported when
    the command runs), to measure what the CLI costs before the command starts.
    """
    env = dict(os.environ)
    env.setdefault("CHAIRSIDE_HOME", tempfile.mkdtemp(prefix="chairside-bench-"))
    done = subprocess.run(
        [python, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    total = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not name.startswith(" ") or name.startswith("  "):
            continue  # nested: already counted in its parent's cumulative time
        if prefix and not name.strip().startswith(prefix) and prefix != "*":
            continue
        if name.strip() in exclude:
            continue
        total += int(cumulative)
    return total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--exclude", action="append", default=[], help="top-level module")
    parser.add_argument("args", nargs="*")
    options = parser.parse_args()
    anchor = [import_seconds(options.python, ["-c", "pass"], "*") for _ in range(options.runs)]
    command = ["-m", "chairside", *options.args]
    runs = [
        import_seconds(options.python, command, "*", tuple(options.exclude))
        for _ in range(options.runs)
    ]
    print(
        f"chairside {' '.join(options.args)}"
        + (f" (without {', '.join(options.exclude)})" if options.exclude else "")
        + ": median import {statistics.median(runs):.3f} s "
        f"(anchor `python -c pass` {statistics.median(anchor):.3f} s, "
        f"ratio {statistics.median(runs) / statistics.median(anchor):.1f}x), runs={options.runs}"
    )


if __name__ == "__main__":
    main()
