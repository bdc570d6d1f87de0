"""The event service's domains (the packages under ``tickettoken.events``) form a hierarchy: no
import cycles between them, imports inside functions included (a lazy import hides a cycle from
Python, not from the design), and a domain uses another only through its ``service`` module (or
its ``models`` and ``schemas``, the shapes of its rows and requests). Top-level modules of the
package are shared helpers that import no domain, except the composition roots that assemble
all of them."""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import tickettoken.events

PACKAGE = Path(tickettoken.events.__file__).parent
PREFIX = "tickettoken.events."
COMPOSITION_ROOTS = {"models", "seed", "app"}  # every model registered; demo data; the factory
PUBLIC = {"service", "models", "schemas"}


def domains() -> set[str]:
    return {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}


def imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every module ``path`` imports from the event service, wherever the import statement is."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # ``from pkg import module`` names a module
                yield f"{node.module}.{alias.name}", node.lineno


def edges() -> dict[str, dict[str, list[str]]]:
    """Domain -> imported domain -> "module.py:line -> target" sites."""
    known = domains()
    found: dict[str, dict[str, list[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) < 2 or parts[0] not in known:
            continue
        for target, line in imports(path):
            if not target.startswith(PREFIX):
                continue
            names = target[len(PREFIX) :].split(".")
            if names[0] in known and names[0] != parts[0]:
                site = f"{'/'.join(parts)}:{line} -> {target}"
                found.setdefault(parts[0], {}).setdefault(names[0], []).append(site)
    return found


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_domains_import_each_other_without_cycles() -> None:
    graph = edges()
    cycle = find_cycle(graph)
    assert cycle is None, (
        "import cycle: "
        + " -> ".join(cycle)
        + "\n"
        + "\n".join(site for a, b in itertools.pairwise(cycle) for site in graph[a][b])
    )


def test_a_cycle_is_found_even_through_a_lazy_import(tmp_path: Path) -> None:
    graph = {"a": {"b": ["a.py:1"]}, "b": {"c": ["b.py:9 (inside a function)"]}, "c": {"a": []}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    module = tmp_path / "lazy.py"
    module.write_text("def later():\n    from tickettoken.events.orders import service\n")
    assert ("tickettoken.events.orders.service", 2) in list(imports(module))


def test_other_domains_are_used_through_their_service() -> None:
    wrong = [
        site
        for targets in edges().values()
        for sites in targets.values()
        for site in sites
        if site.rsplit(" -> ", 1)[1][len(PREFIX) :].split(".")[1] not in PUBLIC
    ]
    assert wrong == []


def test_shared_top_level_modules_import_no_domain() -> None:
    known = domains()
    wrong = [
        f"{path.name}:{line} -> {target}"
        for path in sorted(PACKAGE.glob("*.py"))
        if path.stem not in COMPOSITION_ROOTS
        for target, line in imports(path)
        if target.startswith(PREFIX) and target[len(PREFIX) :].split(".")[0] in known
    ]
    assert wrong == []
