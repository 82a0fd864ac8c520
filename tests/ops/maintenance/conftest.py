from __future__ import annotations

from tests.cli.conftest import Run, cli  # noqa: F401 - the `cli` fixture, shared
