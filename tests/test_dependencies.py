"""Pylon's modules import each other one way: no cycle, function-local imports included (a local
import that only hides a cycle still counts). Tasks call services; services enqueue tasks by name
through ``pylon.background``; the engine's modules form a chain."""

import ast
from pathlib import Path

from django.conf import settings

PACKAGES = (
    "accounts",
    "zones",
    "workloads",
    "scheduling",
    "notifications",
    "outbox",
    "events",
    "pylon",
    "apikeys",
    "webhooks",
    "analytics",
)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (settings.BASE_DIR / package).rglob("*.py"):
            parts = path.relative_to(settings.BASE_DIR).with_suffix("").parts
            if "migrations" in parts:
                continue
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in modules and target != name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_module_imports_itself_through_others():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert "scheduling.recompute" in graph["scheduling.tasks"]  # the walk sees imports
    assert _cycles(graph) == []


def test_services_never_import_tasks():
    modules = _modules()
    for name, path in modules.items():
        if name.endswith(".tasks") or ".management." in name:
            continue
        assert not {m for m in _imports(name, path, modules) if m.endswith(".tasks")}, name


def test_webhooks_are_a_consumer_nothing_below_imports():
    """Webhooks read the outbox and the workloads' serializers; the apps whose events they send never
    know of them (they record events, whoever handles them)."""
    modules = _modules()
    for name, path in modules.items():
        if name.split(".")[0] in ("accounts", "zones", "workloads", "scheduling", "notifications", "outbox"):
            assert not {m for m in _imports(name, path, modules) if m.startswith("webhooks")}, name
    assert "outbox.registry" in _imports("webhooks.handlers", modules["webhooks.handlers"], modules)
