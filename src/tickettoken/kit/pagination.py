"""Page and limit query parameters and the list envelope of SPEC section 3."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Query

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class PageParams:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def page_params(
    page: int = Query(1, ge=1, le=100_000, description="Page number, from 1"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page"),
) -> PageParams:
    return PageParams(page=page, limit=limit)


def paginated(items: Sequence[Any], page: PageParams, total: int) -> dict[str, Any]:
    return {
        "success": True,
        "data": list(items),
        "pagination": {
            "page": page.page,
            "limit": page.limit,
            "total": total,
            "total_pages": math.ceil(total / page.limit) if total else 0,
        },
    }


def ok(data: Any) -> dict[str, Any]:
    return {"success": True, "data": data}
