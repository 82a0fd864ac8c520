"""``chairside monitoring render``: files, JSON, dry run, the ops timeline, dashboards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chairside.cli.main import app
from chairside.config import get_settings, load_settings
from chairside.ops.timeline.store import open_ops_store


def _render(monkeypatch: pytest.MonkeyPatch, home: Path, *args: str) -> tuple[int, Any]:
    monkeypatch.setenv("CHAIRSIDE_HOME", str(home))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app, ["monitoring", "render", *args, "--json"], catch_exceptions=False
        )
    finally:
        get_settings.cache_clear()
    return result.exit_code, json.loads(result.stdout)


def test_render_writes_every_file_and_records_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = tmp_path / "stack"
    code, body = _render(monkeypatch, tmp_path / "home", "--out", str(out))
    assert code == 0
    kinds = sorted(f["kind"] for f in body["files"])
    assert kinds.count("dashboard") == 4
    assert {"prometheus", "rules", "alertmanager", "grafana"} <= set(kinds)
    for item in body["files"]:
        assert Path(item["path"]).is_file()
    events = open_ops_store(load_settings(home=tmp_path / "home")).recent(kind_prefix="monitoring.")
    assert events[0].kind == "monitoring.render"
    assert str(out) in events[0].summary


def test_a_dry_run_writes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out = tmp_path / "stack"
    code, body = _render(monkeypatch, tmp_path / "home", "--out", str(out), "--dry-run")
    assert code == 0
    assert body["dry_run"] is True
    assert len(body["files"]) == 9
    assert not out.exists()


def test_render_refuses_a_file_as_the_output_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    code, body = _render(monkeypatch, tmp_path / "home", "--out", str(target))
    assert code == 2
    assert str(target) in body["error"]["message"]


def test_dashboards_have_unique_ids_and_panels_that_do_not_overlap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = tmp_path / "stack"
    _render(monkeypatch, tmp_path / "home", "--out", str(out))
    boards = [json.loads(p.read_text()) for p in sorted((out / "grafana/dashboards").glob("*"))]
    assert sorted(b["title"] for b in boards) == [
        "Chairside business",
        "Chairside database",
        "Chairside infrastructure",
        "Chairside overview",
    ]
    assert len({b["uid"] for b in boards}) == 4
    for board in boards:
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24
            own = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not own & cells, f"{board['title']}: {panel['title']} overlaps"
            cells |= own
            assert panel["targets"] and all(t["expr"] for t in panel["targets"])
