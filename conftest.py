"""Shared pytest setup for tests/ and e2e/: fixtures for the real components live in
tests/fixtures/ (pytest only honours pytest_plugins in the top-level conftest)."""

pytest_plugins = [
    "tests.fixtures.controlplane",
    "tests.fixtures.ceph",
    "tests.fixtures.libvirt",
    "tests.fixtures.operator",
    "tests.fixtures.agent",
    "tests.fixtures.nodes",
    "tests.fixtures.leftovers",  # last: checks what the session left behind
]
