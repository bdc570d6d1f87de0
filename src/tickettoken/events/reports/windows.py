"""Where the figures of a report window come from: whole UTC days from the daily rollup, the
partial days at its edges from the orders themselves.

The rollup is per UTC day, while ``from`` and ``to`` are instants; a window is split into the
whole days it covers (read from ``report_sales_daily``) and at most two partial-day edges (read
from ``orders`` through the index on ``coalesce(paid_at, created_at)``), so the figures stay
exactly those of the orders for any instant, at the cost of at most two days of orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta


@dataclass(frozen=True)
class Window:
    """Whole days ``[first_day, end_day)`` (None: unbounded; ``use_days`` False: none at all)
    and the instant ranges ``[start, end)`` to read from orders."""

    use_days: bool
    first_day: date | None
    end_day: date | None
    edges: tuple[tuple[datetime, datetime], ...]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def split_window(date_from: datetime | None, date_to: datetime | None) -> Window:
    start = date_from.astimezone(UTC) if date_from is not None else None
    end = date_to.astimezone(UTC) if date_to is not None else None
    first_day: date | None = None
    end_day: date | None = None
    if start is not None:
        first_day = (
            start.date() if start == _midnight(start.date()) else start.date() + timedelta(1)
        )
    if end is not None:
        end_day = end.date()
    if first_day is not None and end_day is not None and first_day >= end_day:
        # no whole day inside: the window is read from orders alone
        if start is not None and end is not None and start < end:
            return Window(False, None, None, ((start, end),))
        return Window(False, None, None, ())
    edges: list[tuple[datetime, datetime]] = []
    if start is not None and first_day is not None and start < _midnight(first_day):
        edges.append((start, _midnight(first_day)))
    if end is not None and end_day is not None and _midnight(end_day) < end:
        edges.append((_midnight(end_day), end))
    return Window(True, first_day, end_day, tuple(edges))
