"""The root imports a command group only when it runs, and lists each with its real help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chairside.cli.main import COMMANDS

# Runs the CLI in a fresh interpreter, then prints which chairside modules it imported.
_PROBE = """
import json, sys
from chairside.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print("\\nMODULES=" + json.dumps(sorted(m for m in sys.modules if m.startswith(
    ("chairside", "boto3", "fastapi", "sqlalchemy", "apprise", "playwright")))))
"""


def _modules_imported_by(*args: str, home: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        env={"CHAIRSIDE_HOME": str(home), "PATH": "/usr/bin:/bin", "COLUMNS": "80"},
        check=False,
        timeout=60,
    )
    line = done.stdout.rsplit("MODULES=", 1)[1]
    return set(json.loads(line))


def test_help_imports_no_command_group(tmp_path: Path) -> None:
    modules = _modules_imported_by("--help", home=tmp_path)
    assert not {m for m in modules if m.startswith("chairside.ops")}
    assert not {m for m in modules if m.startswith(("sqlalchemy", "fastapi", "boto3"))}


def test_backup_status_imports_its_own_service_and_no_other(tmp_path: Path) -> None:
    modules = _modules_imported_by("backup", "status", "--json", home=tmp_path)
    assert "chairside.ops.backup.status" in modules
    others = {
        "chairside.ops.backup.basebackup",  # backup full
        "chairside.ops.backup.sync.operation",  # backup sync
        "chairside.ops.backup.validation.service",  # backup validate
        "chairside.ops.restore.service",
        "chairside.ops.incidents.service",
        "chairside.api.app",
        "fastapi",
        "apprise",
    }
    assert not modules & others


@pytest.mark.parametrize("entry", COMMANDS, ids=lambda c: c.name)
def test_the_root_lists_each_command_with_the_help_it_really_has(entry: object) -> None:
    from chairside.cli.lazy import LazyCommand

    assert isinstance(entry, LazyCommand)
    real = entry.load()
    assert (real.help or "").strip().splitlines()[0].strip() == entry.help
