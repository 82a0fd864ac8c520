"""An incident from open to report: times, timeline, ops events, the report's sections."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from chairside.config import Settings
from chairside.ops.timeline.store import OpsEventRow, open_ops_store
from tests.ops.incidents.conftest import Cli, run_cli

T0 = "2025-01-10T03:00:00Z"


def _lifecycle(cli: Cli) -> int:
    code, body = cli(
        "open", "--severity", "P1", "--title", "Bookings fail", "--summary",
        "every POST /bookings answers 500", "--by", "pager", "--at", T0,
    )  # fmt: skip
    assert code == 0, body
    incident_id = int(body["incident"]["id"])
    steps = [
        ("ack", str(incident_id), "--by", "alice", "--at", "2025-01-10T03:04:00Z"),
        ("status", str(incident_id), "investigating", "--at", "2025-01-10T03:06:00Z"),
        ("note", str(incident_id), "pool at 100%", "--at", "2025-01-10T03:15:30Z"),
        ("status", str(incident_id), "identified", "--note", "leak", "--at", T0[:11] + "03:20:00Z"),
        ("status", str(incident_id), "monitoring", "--at", "2025-01-10T03:40:00Z"),
        (
            "resolve", str(incident_id), "--cause", "connection leak in 1.4.2",
            "--resolution", "rolled back to 1.4.1", "--by", "alice", "--at", "2025-01-10T03:52:00Z",
        ),
    ]  # fmt: skip
    for step in steps:
        code, body = cli(*step)
        assert code == 0, (step, body)
    return incident_id


def test_the_full_lifecycle_reports_the_right_times(cli: Cli, tmp_path: Path) -> None:
    incident_id = _lifecycle(cli)
    target = tmp_path / "report.json"
    code, report = cli("report", str(incident_id), "--format", "json", "--output", str(target))
    assert code == 0
    incident = report["incident"]
    assert incident["status"] == "resolved"
    assert incident["opened_at"] == "2025-01-10T03:00:00+00:00"
    assert incident["acknowledged_by"] == "alice"
    assert report["response"]["time_to_acknowledge_seconds"] == 240
    assert report["response"]["response_target_seconds"] == 300
    assert report["response"]["acknowledged_within_target"] is True
    assert report["response"]["time_to_resolve_seconds"] == 52 * 60
    assert [(e["at"][11:19], e["kind"], e["status"]) for e in report["timeline"]] == [
        ("03:00:00", "opened", "open"),
        ("03:04:00", "acknowledged", "acknowledged"),
        ("03:06:00", "status", "investigating"),
        ("03:15:30", "note", "investigating"),
        ("03:20:00", "status", "identified"),
        ("03:40:00", "status", "monitoring"),
        ("03:52:00", "resolved", "resolved"),
    ]
    assert report["cause"] == "connection leak in 1.4.2"
    assert report["resolution"] == "rolled back to 1.4.1"
    assert report["follow_up_actions"] == []
    assert report["draft"] is False
    assert json.loads(target.read_text()) == report


def test_the_markdown_report_has_every_section(cli: Cli, tmp_path: Path) -> None:
    incident_id = _lifecycle(cli)
    target = tmp_path / "report.md"
    code, stdout, _ = run_cli("report", str(incident_id), "--output", str(target))
    assert code == 0
    text = target.read_text()
    assert text.strip() == stdout.strip()
    assert "# Incident 1: Bookings fail" in text
    assert "| time to acknowledge | 4m 00s | immediate (5m 00s) | yes |" in text
    assert "| time to resolve | 52m 00s | none in the runbooks |" in text
    assert "| 2025-01-10 03:15:30 UTC | note | investigating | " in text
    for heading in (
        "## Timeline (UTC)",
        "## Ops events during the incident (UTC)",
        "## Cause",
        "## Resolution",
        "## Follow-up actions",
    ):
        assert heading in text
    assert text.rstrip().endswith("## Follow-up actions")


def test_a_late_acknowledgement_misses_the_severity_target(cli: Cli) -> None:
    code, body = cli("open", "--severity", "P2", "--title", "Payments slow", "--at", T0)
    assert code == 0
    incident_id = str(body["incident"]["id"])
    code, body = cli("ack", incident_id, "--at", "2025-01-10T03:16:00Z")
    assert code == 0
    assert body["incident"]["acknowledged_within_target"] is False
    code, report = cli("report", incident_id)
    assert code == 0
    assert report["response"]["response_target_seconds"] == 15 * 60
    assert report["response"]["time_to_acknowledge_seconds"] == 16 * 60
    assert report["response"]["acknowledged_within_target"] is False


def test_the_report_lists_the_ops_events_of_the_incident_window_only(
    cli: Cli, settings: Settings
) -> None:
    incident_id = _lifecycle(cli)
    store = open_ops_store(settings)
    with Session(store.engine) as session, session.begin():
        for minute, kind in (
            (59, "backup.full"),
            (30, "restore.pitr"),
            (45, "maintenance_mode.on"),
        ):
            hour = 2 if minute == 59 else 3
            session.add(
                OpsEventRow(
                    at=datetime(2025, 1, 10, hour, minute, tzinfo=UTC),
                    kind=kind,
                    status="ok",
                    summary=f"{kind} happened",
                    actor="ops@host",
                    details={},
                )
            )
        session.add(
            OpsEventRow(
                at=datetime(2025, 1, 10, 4, 30, tzinfo=UTC),
                kind="restore.full",
                status="ok",
                summary="after the incident",
                actor="ops@host",
                details={},
            )
        )
    code, report = cli("report", str(incident_id))
    assert code == 0
    assert [(e["kind"], e["at"][11:16]) for e in report["ops_events"]] == [
        ("restore.pitr", "03:30"),
        ("maintenance_mode.on", "03:45"),
    ]


def test_every_step_records_an_ops_event(cli: Cli, settings: Settings) -> None:
    incident_id = _lifecycle(cli)
    events = open_ops_store(settings).recent(kind_prefix="incident.")
    assert [e.kind for e in reversed(events)] == [
        "incident.opened",
        "incident.acknowledged",
        "incident.status",
        "incident.note",
        "incident.status",
        "incident.status",
        "incident.resolved",
    ]
    assert all(e.details["incident_id"] == incident_id for e in events)
    assert events[0].details["status"] == "resolved"


def test_an_unresolved_incident_gets_a_draft_report_up_to_now(cli: Cli) -> None:
    code, body = cli("open", "--severity", "P3", "--title", "Slow search")
    assert code == 0
    code, report = cli("report", str(body["incident"]["id"]))
    assert code == 0
    assert report["draft"] is True
    assert report["response"]["time_to_acknowledge_seconds"] is None
    assert report["window"]["end"] == report["generated_at"]


def test_show_gives_the_whole_timeline_and_list_hides_resolved_with_open_only(cli: Cli) -> None:
    resolved = _lifecycle(cli)
    code, body = cli("open", "--severity", "p4", "--title", "Log noise")
    assert code == 0
    still_open = body["incident"]["id"]
    code, shown = cli("show", str(resolved))
    assert code == 0
    assert len(shown["entries"]) == 7
    assert {
        "id", "title", "summary", "severity", "severity_name", "response_target_seconds",
        "escalation", "status", "opened_at", "opened_by", "acknowledged_at", "acknowledged_by",
        "resolved_at", "resolved_by", "cause", "resolution", "time_to_acknowledge_seconds",
        "acknowledged_within_target", "time_to_resolve_seconds", "entries",
    } <= set(shown)  # fmt: skip
    code, listed = cli("list")
    assert [i["id"] for i in listed["incidents"]] == [still_open, resolved]
    code, listed = cli("list", "--open-only")
    assert [(i["id"], i["severity"]) for i in listed["incidents"]] == [(still_open, "P4")]
