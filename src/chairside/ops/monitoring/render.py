"""``chairside monitoring render``: write a ready monitoring stack's configuration.

::

    DIR/prometheus.yml                     scrape Chairside, load the rules, alert
    DIR/rules/chairside.rules.yml          alert rules (rules.py)
    DIR/alertmanager.yml                   routing, inhibition, receivers (mode 0600:
                                           it holds the receivers' secrets)
    DIR/grafana/dashboards/*.json          four dashboards (dashboards.py)
    DIR/grafana/provisioning/…             datasource and dashboard provisioning

Files are written atomically, so a Prometheus reloading mid-render never reads half.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chairside.config import Settings
from chairside.errors import InputError
from chairside.ops.monitoring.alertmanager import alertmanager_config
from chairside.ops.monitoring.dashboards import dashboards
from chairside.ops.monitoring.prometheus import RULE_FILE, prometheus_config
from chairside.ops.monitoring.rules import alert_rules, rule_groups


@dataclass(frozen=True)
class RenderedFile:
    """One written file and what it is."""

    path: Path
    kind: str

    def to_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "kind": self.kind}


def render_monitoring(
    settings: Settings, *, out: Path, dry_run: bool = False
) -> list[RenderedFile]:
    """Write (or with ``dry_run`` only list) every monitoring file under ``out``."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a directory", field="out")
    files: list[tuple[str, str, Any, int]] = [
        ("prometheus.yml", "prometheus", prometheus_config(settings), 0o644),
        (RULE_FILE, "rules", rule_groups(settings), 0o644),
        ("alertmanager.yml", "alertmanager", alertmanager_config(settings), 0o600),
        ("grafana/provisioning/datasources/chairside.yml", "grafana", _datasource(settings), 0o644),
        ("grafana/provisioning/dashboards/chairside.yml", "grafana", _provider(), 0o644),
    ]
    for name, board in dashboards(settings).items():
        files.append((f"grafana/dashboards/{name}", "dashboard", board, 0o644))
    written = []
    for relative, kind, content, mode in files:
        path = out / relative
        if not dry_run:
            text = (
                json.dumps(content, indent=2) + "\n"
                if relative.endswith(".json")
                else yaml.safe_dump(content, sort_keys=False, width=100)
            )
            _write(path, text, mode)
        written.append(RenderedFile(path, kind))
    return written


def alert_names(settings: Settings) -> list[str]:
    """The name of every alert rule rendered."""
    return [rule.name for rule in alert_rules(settings)]


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    tmp.replace(path)


def _datasource(settings: Settings) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "access": "proxy",
                "url": "http://127.0.0.1:9090",
                "isDefault": True,
            }
        ],
    }


def _provider() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "chairside",
                "folder": "Chairside",
                "type": "file",
                "options": {"path": "/var/lib/grafana/dashboards/chairside"},
            }
        ],
    }
