"""Only ``events/inventory`` writes ``ticket_types.sold`` / ``reserved`` (in SQL or through the
ORM): every other module asks it, so there is one lock order and one hold to reason about."""

from __future__ import annotations

import re
from pathlib import Path

import tickettoken.events

PACKAGE = Path(tickettoken.events.__file__).parent
WRITES = re.compile(
    r"\b(reserved|sold)\s*=\s*(reserved|sold|tt\.reserved|tt\.sold)\b"  # SQL SET col = col ...
    r"|\.(reserved|sold)\s*[+-]?=[^=]"  # ORM attribute assignment
    r"|values\([^)]*\b(reserved|sold)=",  # SQLAlchemy update().values(reserved=...)
)


def test_no_module_outside_inventory_writes_the_counters() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] != "inventory"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if WRITES.search(line)
    ]
    assert found == []


def test_the_pattern_sees_the_writes_it_forbids() -> None:
    for line in (
        "UPDATE ticket_types SET reserved = reserved - :q",
        "SET sold = sold + :q",
        "ticket_type.sold += 1",
        "update(TicketType).values(reserved=0)",
    ):
        assert WRITES.search(line), line
    assert not WRITES.search('"sold": totals["sold"],')
