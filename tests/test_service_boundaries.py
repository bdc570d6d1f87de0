"""Services stay apart: a service's package never imports another service's, and the kit imports
no service. What spans services (the service table, the demo season, the CLI) lives beside
them. Imports inside functions count too: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import tickettoken

ROOT = Path(tickettoken.__file__).parent
SERVICES = ("events", "queue", "integrations", "gateway")


def _imported_packages(package: str) -> dict[str, set[str]]:
    """For each module of ``tickettoken.<package>``, the ``tickettoken.*`` packages it imports."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[str(path.relative_to(ROOT))] = {
            name.split(".")[1] for name in names if name.startswith("tickettoken.")
        }
    return found


def test_no_service_imports_another_service() -> None:
    crossings = [
        f"{module} imports tickettoken.{other}"
        for service in SERVICES
        for module, packages in _imported_packages(service).items()
        for other in packages
        if other in SERVICES and other != service
    ]
    assert crossings == []


def test_the_kit_imports_no_service() -> None:
    crossings = [
        f"{module} imports tickettoken.{other}"
        for module, packages in _imported_packages("kit").items()
        for other in packages
        if other in (*SERVICES, "services", "demo", "sandbox", "cli")
    ]
    assert crossings == []
