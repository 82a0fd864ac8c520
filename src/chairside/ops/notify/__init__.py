"""Notifications to people: one Notifier protocol, apprise behind it, a fake for tests."""
