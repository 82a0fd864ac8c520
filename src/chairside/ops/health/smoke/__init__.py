"""The business smoke test: a canary booking made end to end through the HTTP API."""

from chairside.ops.health.smoke.flow import SmokeRun, run_smoke

__all__ = ["SmokeRun", "run_smoke"]
