"""The Alertmanager configuration: receivers from settings, routing by severity.

::

    severity=critical (P1, P2)  ->  pager   (PagerDuty; and the chat, so everyone sees it)
    severity=warning  (P3)      ->  chat    (Slack)
    severity=info     (P4)      ->  ticket  (e-mail to the ticket queue)

A receiver with nothing configured is still rendered (Alertmanager accepts an empty
receiver): the routing stays the same and the alert is visible in Alertmanager's UI,
it just reaches nobody. ``CHAIRSIDE_ALERT_WEBHOOK_URL`` adds a webhook to every receiver.

Inhibition: a critical alert mutes the warning and info alerts of the same ``component``
(disk at 90 % need not also say "disk above 75 %"), and an instance that is down mutes
everything else from that instance, whose other alerts are consequences.
"""

from __future__ import annotations

from typing import Any

from chairside.config import Settings

PAGER, CHAT, TICKET = "pager", "chat", "ticket"


def alertmanager_config(settings: Settings) -> dict[str, Any]:
    """The whole ``alertmanager.yml`` as data."""
    config: dict[str, Any] = {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": CHAT,
            "group_by": ["alertname", "job", "component"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {
                    "receiver": PAGER,
                    "matchers": ['severity="critical"'],
                    "group_wait": "10s",
                    "repeat_interval": "1h",
                    "continue": True,
                },
                {"receiver": CHAT, "matchers": ['severity=~"critical|warning"']},
                {"receiver": TICKET, "matchers": ['severity="info"'], "repeat_interval": "24h"},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity=~"warning|info"'],
                "equal": ["job", "component"],
            },
            {
                "source_matchers": ['alertname="ChairsideInstanceDown"'],
                "target_matchers": ['alertname!="ChairsideInstanceDown"'],
                "equal": ["job", "instance"],
            },
        ],
        "receivers": [_pager(settings), _chat(settings), _ticket(settings)],
    }
    if settings.alert_email_to:
        config["global"].update(
            smtp_smarthost=settings.alert_smtp_smarthost,
            smtp_from=settings.alert_email_from,
            smtp_require_tls=False,
        )
    return config


def _webhooks(settings: Settings) -> dict[str, Any]:
    if not settings.alert_webhook_url:
        return {}
    return {"webhook_configs": [{"url": settings.alert_webhook_url, "send_resolved": True}]}


def _pager(settings: Settings) -> dict[str, Any]:
    receiver: dict[str, Any] = {"name": PAGER, **_webhooks(settings)}
    if settings.alert_pagerduty_routing_key is not None:
        receiver["pagerduty_configs"] = [
            {
                "routing_key": settings.alert_pagerduty_routing_key.get_secret_value(),
                "severity": "critical",
                "description": "{{ .CommonLabels.priority }} {{ .CommonAnnotations.summary }}",
            }
        ]
    return receiver


def _chat(settings: Settings) -> dict[str, Any]:
    receiver: dict[str, Any] = {"name": CHAT, **_webhooks(settings)}
    if settings.alert_slack_webhook_url is not None:
        receiver["slack_configs"] = [
            {
                "api_url": settings.alert_slack_webhook_url.get_secret_value(),
                "channel": settings.alert_slack_channel,
                "send_resolved": True,
                "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.priority }} "
                "{{ .CommonAnnotations.summary }}",
                "text": "{{ range .Alerts }}{{ .Annotations.description }}\n{{ end }}",
            }
        ]
    return receiver


def _ticket(settings: Settings) -> dict[str, Any]:
    receiver: dict[str, Any] = {"name": TICKET, **_webhooks(settings)}
    if settings.alert_email_to:
        receiver["email_configs"] = [{"to": settings.alert_email_to, "send_resolved": False}]
    return receiver
