"""The README is the map users and integrators read: its endpoint table, configuration table and
dependency list must say what the code does, so a new endpoint, setting or package cannot land
undocumented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def section(title: str) -> str:
    """The text under a ``## title`` heading, up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README + "\n## ", re.M | re.S)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def table_first_cells(text: str) -> list[str]:
    return [line.split("|")[1] for line in text.splitlines() if line.startswith("| `")]


def test_the_endpoint_table_lists_every_operation_of_the_schema_and_nothing_else():
    schema = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    documented = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }
    listed = set()
    for cell in table_first_cells(section("Endpoints (v1)")):
        for methods, path in re.findall(r"`([A-Z]+(?:/[A-Z]+)*) (/[^`?\s]*)", cell):
            listed |= {(method, path) for method in methods.split("/")}
    assert documented - listed == set(), "operations missing from the README's endpoint table"
    assert listed - documented == set(), "the README's endpoint table names operations the schema lacks"


def test_the_configuration_table_lists_every_setting_read_from_the_environment():
    settings_source = (ROOT / "pylon" / "settings.py").read_text()
    read = set(re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]*)\"", settings_source))
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= read  # the pattern still finds them
    listed = set()
    for cell in table_first_cells(section("Configuration")):
        listed |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", cell))
    assert read - listed == set(), "settings read from the environment but missing from the README"


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>~! ]", line)[0])
    return names


@pytest.mark.parametrize("requirements", ["requirements.txt", "requirements-dev.txt"])
def test_the_dependencies_section_names_every_package(requirements):
    def normal(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    text = normal(section("Dependencies"))
    packages = requirement_names(ROOT / requirements)
    assert packages, f"no packages read from {requirements}"
    missing = {name for name in packages if not re.search(rf"(?<![\w-]){re.escape(normal(name))}(?![\w-])", text)}
    assert missing == set(), f"packages of {requirements} the README's Dependencies section does not name"
