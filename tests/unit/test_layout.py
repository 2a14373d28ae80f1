"""Project layout: every package folder is installed, and `operator` never shadows the stdlib."""

from __future__ import annotations

import operator
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    found = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *relative)))
    assert found - listed == set(), "add these to [tool.setuptools] packages"


def test_the_stdlib_operator_module_is_not_shadowed() -> None:
    assert hasattr(operator, "itemgetter")


def test_the_operator_component_imports_under_the_kovirt_root() -> None:
    import kovirt.node_agent
    import kovirt.operator

    assert Path(kovirt.operator.__file__).parent.name == "operator"
    assert Path(kovirt.node_agent.__file__).parent.name == "node_agent"
