"""The rolling deploy's plan and order, without a lab: which hosts, in which order, from
which release to which; one host at a time; a failing host put back on its release and
the roll stopped there; a rollback touching only the hosts a deployment changed."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import pytest

from chairside.checks import CheckResult, CheckStatus
from chairside.errors import InputError
from chairside.ops.deploy.release import Release
from chairside.ops.deploy.rolling import (
    HostResult,
    choose_hosts,
    plan_roll,
    plan_rollback,
    roll_hosts,
)
from chairside.topology.file import load_topology
from chairside.topology.model import ApiHost, Topology

OLD = Release("1.0", sys.executable)
NEW = Release("1.1", sys.executable)


def three_hosts() -> Topology:
    topology = load_topology(None)
    topology.api.hosts.append(ApiHost(name="api3"))
    return topology


@dataclass
class FakeHosts:
    """Hosts and HAProxy in one: every call is logged, in order."""

    releases: dict[str, Release]
    log: list[str] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)

    def release_of(self, host: ApiHost) -> Release:
        return self.releases[host.name]

    def install(self, host: ApiHost, release: Release) -> None:
        self.log.append(f"install {host.name} {release.label}")
        self.releases[host.name] = release

    def start_failure(self, host: ApiHost) -> str | None:
        return None

    def set_state(self, host: ApiHost, state: str) -> None:
        self.log.append(f"{state} {host.name}")
        self.states[host.name] = state

    def sessions(self, host: ApiHost) -> int:
        return 0

    def is_up(self, host: ApiHost) -> bool:
        return self.states.get(host.name) == "ready"


def verify_all_but(bad: set[str]):  # type: ignore[no-untyped-def]
    def verify(host: ApiHost, release: Release) -> list[CheckResult]:
        if host.name in bad and release == NEW:
            return [CheckResult("smoke", CheckStatus.CRITICAL, "booking answered 500")]
        return [CheckResult("release", CheckStatus.OK, release.label)]

    return verify


def test_hosts_are_chosen_in_the_order_given_and_unknown_or_repeated_names_refused() -> None:
    topology = three_hosts()
    assert [h.name for h in choose_hosts(topology, None)] == ["api1", "api2", "api3"]
    assert [h.name for h in choose_hosts(topology, ["api3", "api1"])] == ["api3", "api1"]
    with pytest.raises(InputError, match="api1, api2, api3") as unknown:
        choose_hosts(topology, ["api9"])
    assert unknown.value.field == "host"
    with pytest.raises(InputError, match="twice"):
        choose_hosts(topology, ["api1", "api1"])


def test_a_release_needs_a_plain_label_and_an_installed_interpreter() -> None:
    assert Release.make("2.1-rc1").python == sys.executable
    with pytest.raises(InputError) as label:
        Release.make("../etc")
    assert label.value.field == "release"
    with pytest.raises(InputError, match="absolute") as relative:
        Release.make("2.1", "venv/bin/python")
    assert relative.value.field == "python"
    with pytest.raises(InputError, match="install the release first"):
        Release.make("2.1", "/nonexistent/releases/2.1/bin/python")


def test_a_roll_takes_one_host_at_a_time_out_of_haproxy() -> None:
    topology = three_hosts()
    fake = FakeHosts({h.name: OLD for h in topology.api.hosts})
    steps = plan_roll(topology.api.hosts, fake.release_of, NEW)
    results = roll_hosts(
        steps, control=fake, balancer=fake, verify=verify_all_but(set()), ready=lambda h: True
    )
    assert [r.state for r in results] == ["rolled", "rolled", "rolled"]
    assert fake.log == [
        "drain api1", "install api1 1.1", "ready api1",
        "drain api2", "install api2 1.1", "ready api2",
        "drain api3", "install api3 1.1", "ready api3",
    ]  # fmt: skip
    # A restart (lab roll) keeps each host's own release.
    assert [(s.before, s.after) for s in plan_roll(topology.api.hosts, fake.release_of, None)] == [
        (NEW, NEW)
    ] * 3


def test_a_host_failing_verification_goes_back_to_its_release_and_stops_the_roll() -> None:
    topology = three_hosts()
    fake = FakeHosts({h.name: OLD for h in topology.api.hosts})
    steps = plan_roll(topology.api.hosts, fake.release_of, NEW)
    results = roll_hosts(
        steps, control=fake, balancer=fake, verify=verify_all_but({"api2"}), ready=lambda h: True
    )
    assert [r.state for r in results] == ["rolled", "restored", "not_reached"]
    assert "booking answered 500" in (results[1].error or "")
    assert fake.log[3:] == ["drain api2", "install api2 1.1", "install api2 1.0", "ready api2"]
    # Every host serves: api1 on the new release, api2 back on the old, api3 untouched.
    assert fake.releases == {"api1": NEW, "api2": OLD, "api3": OLD}
    assert all(fake.is_up(h) for h in topology.api.hosts if h.name != "api3")

    # The rollback touches only what the deployment changed: api1, back to 1.0.
    recorded = [HostResult.from_dict(r.to_dict()) for r in results]
    back = plan_rollback(topology, recorded)
    assert [(s.host.name, s.before, s.after) for s in back] == [("api1", NEW, OLD)]


def test_a_host_that_does_not_drain_is_put_back_untouched_and_the_roll_stops() -> None:
    topology = three_hosts()
    fake = FakeHosts({h.name: OLD for h in topology.api.hosts})
    fake.sessions = lambda host: 1  # type: ignore[method-assign]  # a request never ends
    steps = plan_roll(topology.api.hosts, fake.release_of, NEW)
    results = roll_hosts(
        steps,
        control=fake,
        balancer=fake,
        verify=verify_all_but(set()),
        ready=lambda h: True,
        drain_timeout=0.3,
    )
    assert [r.state for r in results] == ["restored", "not_reached", "not_reached"]
    assert "to drain" in (results[0].error or "")
    assert fake.log == ["drain api1", "ready api1"]  # never stopped, back in service
    assert fake.releases["api1"] == OLD
