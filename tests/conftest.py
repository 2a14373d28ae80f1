"""Shared pytest setup: fixtures for the real components live in tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.controlplane",
    "tests.fixtures.ceph",
    "tests.fixtures.libvirt",
    "tests.fixtures.operator",
    "tests.fixtures.agent",
]
