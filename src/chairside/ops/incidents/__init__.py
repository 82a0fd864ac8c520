"""Incidents: the runbooks' incident response process, open to post-incident report.

An incident is opened with a severity (P1-P4, the runbook's Severity Levels), then
acknowledged, moved through investigating / identified / monitoring, annotated with
notes, and resolved with a cause. Incidents live in the ops store next to the ops
events, never in the application database, so a point-in-time restore does not rewind
them; every state change also records an ``incident.*`` ops event.
"""
