"""The Prometheus configuration: scrape Chairside, load its rules, send to Alertmanager."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from chairside.config import Settings

RULE_FILE = "rules/chairside.rules.yml"


def served_address(settings: Settings) -> str:
    """host:port the instance really serves on: what `chairside up` recorded in
    ``run/api.json``, else ``CHAIRSIDE_HEALTH_API_URL``, else the host and port settings."""
    try:
        state = json.loads((settings.run_dir / "api.json").read_text())
        host, port = str(state["host"]), int(state["port"])
    except (OSError, ValueError, KeyError, TypeError):
        if settings.health_api_url:
            netloc = urlsplit(settings.health_api_url).netloc
            if netloc:
                return netloc
        host, port = settings.host, settings.port
    # A wildcard bind is reachable on loopback from the same host.
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def prometheus_config(settings: Settings) -> dict[str, Any]:
    """The whole ``prometheus.yml`` as data."""
    targets = settings.metrics_targets or [served_address(settings)]
    alertmanager = urlsplit(settings.alertmanager_url)
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "30s"},
        "rule_files": [RULE_FILE],
        "alerting": {
            "alertmanagers": [
                {
                    "scheme": alertmanager.scheme or "http",
                    "static_configs": [{"targets": [alertmanager.netloc]}],
                }
            ]
        },
        "scrape_configs": [
            {
                "job_name": settings.metrics_job,
                "metrics_path": "/metrics",
                "scrape_interval": "15s",
                # Scrape-time collectors run health checks; give them room before timing out.
                "scrape_timeout": "10s",
                "static_configs": [{"targets": targets}],
            }
        ],
    }
