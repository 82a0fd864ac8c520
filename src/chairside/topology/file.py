"""Reading the topology file, choosing its free ports, and keeping the resolved copy.

The file is YAML (JSON is YAML too). ``chairside lab up`` resolves every port of 0 and
writes the result to ``topology.json`` in the lab's directory, so ``lab status``,
``drill failover`` and ``status`` with ``CHAIRSIDE_TOPOLOGY`` see the same addresses.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from chairside.errors import ConfigError
from chairside.runtime.ports import free_port
from chairside.topology.model import Topology

RESOLVED_FILE = "topology.json"


def default_topology_text() -> str:
    """The rehearsal topology shipped with Chairside (``topology/lab.yaml``)."""
    return resources.files("chairside.topology").joinpath("lab.yaml").read_text()


def parse_topology(text: str, *, source: str) -> Topology:
    """A topology from YAML text; errors name the key and what is allowed."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a mapping of roles (etcd, postgres, haproxy, ...)")
    try:
        return Topology.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'topology'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"{source} is not a valid topology: {problems}") from None


def load_topology(path: Path | None) -> Topology:
    """The topology in ``path``, or the shipped rehearsal topology when ``path`` is None."""
    if path is None:
        return parse_topology(default_topology_text(), source="the built-in lab.yaml")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"topology file {path} does not exist; give a YAML file describing the hosts "
            "(see src/chairside/topology/lab.yaml)"
        ) from None
    return parse_topology(text, source=str(path))


def resolve_ports(topology: Topology) -> Topology:
    """A copy of ``topology`` with every port of 0 replaced by a port free right now."""
    resolved = topology.model_copy(deep=True)
    taken: set[int] = set()

    def fill(model: BaseModel) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            if name.endswith("port") and isinstance(value, int):
                if value == 0:
                    value = _fresh_port(taken)
                    setattr(model, name, value)
                taken.add(value)
            elif isinstance(value, BaseModel):
                fill(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, BaseModel):
                        fill(item)

    fill(resolved)
    return resolved


def _fresh_port(taken: set[int]) -> int:
    # The OS hands out a free port; asking twice in a row can give the same one back.
    for _ in range(100):
        port = free_port()
        if port not in taken:
            return port
    raise ConfigError("could not find a free loopback port for the lab")


def save_resolved(topology: Topology, lab_dir: Path) -> Path:
    """Write the resolved topology where the other commands look for it."""
    lab_dir.mkdir(parents=True, exist_ok=True)
    path = lab_dir / RESOLVED_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(topology.model_dump(mode="json"), indent=2) + "\n")
    tmp.replace(path)
    return path


def load_resolved(lab_dir: Path) -> Topology:
    """The topology a running (or last) ``lab up`` resolved."""
    path = lab_dir / RESOLVED_FILE
    if not path.exists():
        raise ConfigError(f"no lab topology in {lab_dir}: start one with `chairside lab up`")
    return parse_topology(path.read_text(), source=str(path))
