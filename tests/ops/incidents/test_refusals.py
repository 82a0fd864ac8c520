"""Illegal transitions and bad input are refused with exit 2, a message naming the state
or value and what is allowed, and nothing changes."""

from __future__ import annotations

from chairside.config import Settings
from chairside.ops.timeline.store import open_ops_store
from tests.ops.incidents.conftest import Cli, run_cli


def _open(cli: Cli, *extra: str) -> str:
    code, body = cli("open", "--severity", "P2", "--title", "Checkout errors", *extra)
    assert code == 0, body
    return str(body["incident"]["id"])


def _resolved(cli: Cli) -> str:
    incident_id = _open(cli)
    code, body = cli("resolve", incident_id, "--cause", "bad deploy")
    assert code == 0, body
    return incident_id


def test_a_resolved_incident_cannot_be_acknowledged(cli: Cli) -> None:
    incident_id = _resolved(cli)
    code, body = cli("ack", incident_id)
    assert code == 2
    message = body["error"]["message"]
    assert f"incident {incident_id} is resolved" in message
    assert "only when it is open" in message
    assert body["error"]["details"] == {"status": "resolved", "allowed": ["open"]}


def test_an_incident_cannot_be_resolved_twice_and_keeps_its_first_cause(cli: Cli) -> None:
    incident_id = _resolved(cli)
    code, body = cli("resolve", incident_id, "--cause", "something else")
    assert code == 2
    assert body["error"]["type"] == "ConflictError"
    assert "is resolved" in body["error"]["message"]
    code, shown = cli("show", incident_id)
    assert shown["cause"] == "bad deploy"
    assert [e["kind"] for e in shown["entries"]] == ["opened", "resolved"]


def test_an_incident_is_acknowledged_only_once(cli: Cli) -> None:
    incident_id = _open(cli)
    assert cli("ack", incident_id, "--by", "alice")[0] == 0
    code, body = cli("ack", incident_id, "--by", "bob")
    assert code == 2
    assert "is acknowledged" in body["error"]["message"]
    assert cli("show", incident_id)[1]["acknowledged_by"] == "alice"


def test_a_note_on_an_unknown_incident_is_refused(cli: Cli) -> None:
    _open(cli)
    code, body = cli("note", "42", "found it")
    assert code == 2
    assert body["error"]["type"] == "NotFoundError"
    assert body["error"]["message"] == "no incident 42; ids go from 1 to 1"


def test_a_resolved_incident_still_takes_notes(cli: Cli) -> None:
    incident_id = _resolved(cli)
    code, body = cli("note", incident_id, "post-mortem on Monday")
    assert code == 0
    assert body["entry"]["kind"] == "note"
    assert body["incident"]["status"] == "resolved"


def test_a_bad_severity_names_the_value_and_the_allowed_ones(cli: Cli, settings: Settings) -> None:
    code, body = cli("open", "--severity", "P5", "--title", "x")
    assert code == 2
    assert body["error"]["field"] == "severity"
    assert body["error"]["message"] == (
        "severity 'P5' is not one of P1 (CRITICAL), P2 (HIGH), P3 (MEDIUM), P4 (LOW)"
    )
    assert cli("list")[1] == {"incidents": []}
    assert open_ops_store(settings).recent(kind_prefix="incident.") == []


def test_a_severity_may_be_named_by_its_runbook_name(cli: Cli) -> None:
    code, body = cli("open", "--severity", "critical", "--title", "Site down")
    assert code == 0
    assert body["incident"]["severity"] == "P1"
    assert body["incident"]["escalation"] == "CTO, Product Manager"


def test_an_empty_title_is_refused(cli: Cli) -> None:
    code, body = cli("open", "--severity", "P3", "--title", "  ")
    assert code == 2
    assert body["error"]["field"] == "title"


def test_the_status_of_an_open_incident_waits_for_acknowledgement(cli: Cli) -> None:
    incident_id = _open(cli)
    code, body = cli("status", incident_id, "investigating")
    assert code == 2
    assert (
        f"acknowledge it first (chairside incident ack {incident_id})" in body["error"]["message"]
    )


def test_an_unknown_status_names_the_allowed_ones(cli: Cli) -> None:
    incident_id = _open(cli)
    cli("ack", incident_id)
    code, body = cli("status", incident_id, "fixed")
    assert code == 2
    assert body["error"]["message"] == (
        "status 'fixed' is not one of investigating, identified, monitoring"
    )
    code, body = cli("status", incident_id, "resolved")
    assert code == 2, "resolving goes through `resolve`, which asks for the cause"


def test_a_step_cannot_be_dated_before_the_previous_one(cli: Cli) -> None:
    incident_id = _open(cli, "--at", "2025-03-01T10:00:00Z")
    code, body = cli("ack", incident_id, "--at", "2025-03-01T09:59:00Z")
    assert code == 2
    assert (
        "before the incident's last step at 2025-03-01T10:00:00+00:00" in body["error"]["message"]
    )
    assert cli("show", incident_id)[1]["status"] == "open"


def test_a_step_cannot_be_dated_in_the_future_or_without_an_offset(cli: Cli) -> None:
    code, body = cli("open", "--severity", "P3", "--title", "x", "--at", "2999-01-01T00:00:00Z")
    assert code == 2
    assert "is in the future" in body["error"]["message"]
    code, body = cli("open", "--severity", "P3", "--title", "x", "--at", "2025-03-01T10:00:00")
    assert code == 2
    assert "has no UTC offset" in body["error"]["message"]
    code, body = cli("open", "--severity", "P3", "--title", "x", "--at", "yesterday")
    assert code == 2
    assert "'yesterday' is not ISO 8601" in body["error"]["message"]


def test_refusals_are_printed_for_people_without_json(home: object) -> None:
    code, stdout, stderr = run_cli("ack", "7")
    assert code == 2
    assert stdout == ""
    assert "no incident 7; there are no incidents yet" in stderr
