"""Prometheus metrics: HTTP, business, health and backup families, and ``/metrics``."""
