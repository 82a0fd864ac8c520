"""The Prometheus configuration: scrape Chairside, load its rules, send to Alertmanager."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from chairside.config import Settings

RULE_FILE = "rules/chairside.rules.yml"


def prometheus_config(settings: Settings) -> dict[str, Any]:
    """The whole ``prometheus.yml`` as data."""
    targets = settings.metrics_targets or [f"{settings.host}:{settings.port}"]
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
