"""Health: liveness, component checks, and (later) business smoke tests."""
