"""The monitoring stack's configuration (rules, Alertmanager, dashboards) and its API."""
