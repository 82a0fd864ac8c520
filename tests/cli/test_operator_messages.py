"""Small things an operator trips on: refusals and messages that read right."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from typer.testing import CliRunner

from chairside.cli.main import app
from chairside.errors import DependencyDownError
from chairside.ops.health.service import scrape_metrics
from chairside.runtime.ports import free_port
from tests.cli.conftest import Run


def test_restore_interactive_without_a_terminal_refuses_with_exit_3(
    cli: Callable[..., Run],
) -> None:
    result = CliRunner().invoke(app, ["restore", "interactive"])
    assert result.exit_code == 3
    assert "needs a terminal" in result.output
    assert "restore pitr --target-time" in result.output


def test_an_unreachable_api_is_named_with_its_metrics_address() -> None:
    port = free_port()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
        with pytest.raises(DependencyDownError) as caught:
            scrape_metrics(client)
    assert f"cannot read http://127.0.0.1:{port}/metrics (" in caught.value.message


def test_silence_ids_stay_whole_in_an_80_column_table() -> None:
    from rich.console import Console

    from chairside.ops.monitoring import alerts as alerts_service
    from chairside.ops.monitoring.cli import _render_silences

    silence = alerts_service.Silence(
        id="2c4b1b6e-0f4a-4b8e-9a55-0c9f0c1f7e21",
        state="active",
        matchers=["alertname=ChairsideDiskUsageHigh", "instance=host-1.example.com:8000"],
        starts_at="2026-12-06T23:00:00.000Z",
        ends_at="2026-12-07T03:00:00.000Z",
        created_by="root@ops-host",
        comment="disk swap tonight, planned maintenance window",
    )
    console = Console(width=80, record=True, force_terminal=False)
    _render_silences(console, [silence])
    text = console.export_text()
    assert silence.id in text
    assert all(len(line) <= 80 for line in text.splitlines())
