"""Mailchimp audiences (lists), their members and batch operations.

Members live at ``/lists/{id}/members/{md5 of the lower-cased email}``; ``PUT`` there is an upsert
(``status_if_new`` for a new member), ``POST /lists/{id}/members`` refuses an existing one
("Member Exists"), lists page with ``count`` (at most 1,000) and ``offset`` and report
``total_items``. ``POST /lists/{id}`` subscribes up to 500 members at once (``update_existing``)
and answers ``new_members``/``updated_members``/``errors``. ``POST /batches`` runs its operations
and keeps their answers at ``response_body_url`` (a tar.gz of JSON, as Mailchimp's).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import secrets
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tickettoken.sandbox.mailchimp_webhooks import ListWebhooks

if TYPE_CHECKING:
    from tickettoken.sandbox.mailchimp import Account, MailchimpAPI

STATUSES = {"subscribed", "unsubscribed", "cleaned", "pending", "transactional"}
MAX_BATCH_MEMBERS = 500
MAX_COUNT = 1000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class McError(Exception):
    def __init__(
        self, status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.errors = status, title, detail, errors


def _invalid(field_name: str, message: str) -> McError:
    return McError(
        400,
        "Invalid Resource",
        "The resource submitted could not be validated. For field-specific details, see the"
        " 'errors' array.",
        [{"field": field_name, "message": message}],
    )


def _not_found() -> McError:
    return McError(404, "Resource Not Found", "The requested resource could not be found.")


def _stamp() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


def _page(items: list[dict[str, Any]], query: dict[str, str]) -> tuple[list[Any], int]:
    try:
        count, offset = int(query.get("count", 10)), int(query.get("offset", 0))
    except ValueError:
        raise _invalid("count", "count and offset must be integers") from None
    if count > MAX_COUNT:
        raise _invalid("count", f"count may not exceed {MAX_COUNT}")
    return items[offset : offset + count], len(items)


@dataclass
class Audience:
    """One account's lists and members."""

    lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    webhooks: ListWebhooks = field(default_factory=ListWebhooks)

    def route(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, Any]]:
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] != "lists":
            raise _not_found()
        if len(parts) == 1:
            if method == "GET":
                page, total = _page(list(self.lists.values()), query)
                return 200, {"lists": page, "total_items": total}
            if method == "POST":
                return 200, self.create_list(body)
        members = self.members.get(parts[1]) if len(parts) > 1 else None
        if members is None:
            raise _not_found()
        the_list = self.lists[parts[1]]
        if len(parts) == 2:
            if method == "GET":
                return 200, the_list
            if method == "POST":
                return 200, self.batch_subscribe(parts[1], body)
        elif len(parts) == 3 and parts[2] == "members":
            if method == "GET":
                found = list(members.values())
                if query.get("status"):
                    found = [m for m in found if m["status"] == query["status"]]
                page, total = _page(found, query)
                return 200, {"members": page, "list_id": parts[1], "total_items": total}
            if method == "POST":
                return 200, self.add_member(parts[1], body)
        elif len(parts) == 4 and parts[2] == "members":
            return self.member(parts[1], parts[3], method, body)
        if len(parts) in (3, 4) and parts[2] == "webhooks":
            hook_id = parts[3] if len(parts) == 4 else None
            status, answer = self.webhooks.route(method, parts[1], hook_id, body)
            if status == 400:
                raise _invalid(answer["field"], answer["message"])
            if status == 404:
                raise _not_found()
            return status, answer
        raise _not_found()

    def subscribed(self) -> int:
        return sum(m["status"] == "subscribed" for ms in self.members.values() for m in ms.values())

    def create_list(self, body: dict[str, Any]) -> dict[str, Any]:
        for name in ("name", "contact", "permission_reminder", "campaign_defaults"):
            if not body.get(name):
                raise _invalid(name, "This value should not be blank.")
        if "email_type_option" not in body:
            raise _invalid("email_type_option", "This value should not be blank.")
        list_id = secrets.token_hex(5)
        created = {
            "id": list_id,
            "web_id": secrets.randbelow(10**6),
            "name": body["name"],
            "contact": body["contact"],
            "permission_reminder": body["permission_reminder"],
            "campaign_defaults": body["campaign_defaults"],
            "email_type_option": bool(body["email_type_option"]),
            "date_created": _stamp(),
            "stats": {"member_count": 0, "unsubscribe_count": 0, "cleaned_count": 0},
        }
        self.lists[list_id], self.members[list_id] = created, {}
        return created

    def _count(self, list_id: str) -> None:
        by_status = [m["status"] for m in self.members[list_id].values()]
        self.lists[list_id]["stats"].update(
            member_count=by_status.count("subscribed"),
            unsubscribe_count=by_status.count("unsubscribed"),
            cleaned_count=by_status.count("cleaned"),
        )

    def _write(
        self,
        list_id: str,
        body: dict[str, Any],
        existing: dict[str, Any] | None,
        new_status: Any,
        *,
        count: bool = True,
    ) -> dict[str, Any]:
        """``count``: recount the list's stats now (a batch recounts once at its end: a
        recount walks every member, which made a batch quadratic in the list's size)."""
        email = str(body.get("email_address") or (existing or {}).get("email_address") or "")
        if not EMAIL.match(email):
            raise _invalid("email_address", "Please provide a valid email address.")
        status = body.get("status") or new_status or (existing or {}).get("status")
        if status not in STATUSES:
            raise _invalid("status", "Status must be one of: " + ", ".join(sorted(STATUSES)))
        member = existing or {
            "id": subscriber_hash(email),
            "email_address": email,
            "unique_email_id": secrets.token_hex(5),
            "contact_id": secrets.token_hex(16),
            "web_id": secrets.randbelow(10**9),
            "email_type": "html",
            "merge_fields": {},
            "tags": [],
            "timestamp_signup": _stamp(),
            "list_id": list_id,
        }
        before = member.get("status") if existing is not None else None
        member["status"], member["last_changed"] = status, _stamp()
        member["merge_fields"] = {**member["merge_fields"], **(body.get("merge_fields") or {})}
        first, last = (
            member["merge_fields"].get("FNAME", ""),
            member["merge_fields"].get("LNAME", ""),
        )
        member["full_name"] = f"{first} {last}".strip()
        self.members[list_id][member["id"]] = member
        if count:
            self._count(list_id)
        self.webhooks.member_changed(list_id, before, member)
        return member

    def add_member(self, list_id: str, body: dict[str, Any]) -> dict[str, Any]:
        email = str(body.get("email_address") or "")
        if subscriber_hash(email) in self.members[list_id]:
            raise McError(
                400,
                "Member Exists",
                f"{email} is already a list member. Use PUT to insert or update list members.",
            )
        return self._write(list_id, body, None, None)

    def member(self, list_id: str, key: str, method: str, body: Any) -> tuple[int, dict[str, Any]]:
        key = key.lower() if len(key) == 32 else subscriber_hash(key)
        existing = self.members[list_id].get(key)
        if method == "GET":
            if existing is None:
                raise _not_found()
            return 200, existing
        if method == "PUT":
            email = str(body.get("email_address") or "")
            if existing is None and subscriber_hash(email) != key:
                raise _invalid("email_address", "The email address does not match the hash.")
            if existing is None and not body.get("status_if_new") and not body.get("status"):
                raise _invalid("status_if_new", "This value should not be blank.")
            return 200, self._write(list_id, body, existing, body.get("status_if_new"))
        if method == "PATCH":
            if existing is None:
                raise _not_found()
            return 200, self._write(list_id, body, existing, None)
        if method == "DELETE":
            if existing is None:
                raise _not_found()
            existing["status"] = "archived"
            del self.members[list_id][key]
            self._count(list_id)
            return 204, {}
        raise _not_found()

    def batch_subscribe(self, list_id: str, body: dict[str, Any]) -> dict[str, Any]:
        given = body.get("members") or []
        if len(given) > MAX_BATCH_MEMBERS:
            raise _invalid("members", f"A batch may contain at most {MAX_BATCH_MEMBERS} members.")
        update = bool(body.get("update_existing"))
        created: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in given:
            email = str(item.get("email_address") or "")
            existing = self.members[list_id].get(subscriber_hash(email))
            try:
                if existing is not None and not update:
                    raise McError(
                        400,
                        "Member Exists",
                        f"{email} is already a list member, do"
                        " you want to update? please provide update_existing:true in"
                        " the request body",
                    )
                member = self._write(list_id, item, existing, item.get("status"), count=False)
            except McError as exc:
                field_errors = exc.errors or [{"field": "", "message": ""}]
                errors.append(
                    {
                        "email_address": email,
                        "error": exc.detail,
                        "error_code": "ERROR_CONTACT_EXISTS"
                        if exc.title == "Member Exists"
                        else "ERROR_GENERIC",
                        "field": field_errors[0]["field"],
                        "field_message": field_errors[0]["message"],
                    }
                )
                continue
            (updated if existing is not None else created).append(member)
        self._count(list_id)
        return {
            "new_members": created,
            "updated_members": updated,
            "errors": errors,
            "total_created": len(created),
            "total_updated": len(updated),
            "error_count": len(errors),
        }


class Batches:
    def __init__(self, api: MailchimpAPI) -> None:
        self.api = api
        self.batches: dict[str, dict[str, Any]] = {}
        self.owners: dict[str, str] = {}
        self.results: dict[str, bytes] = {}

    def route(
        self,
        account: Account,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        base_url: str,
    ) -> dict[str, Any]:
        parts = [p for p in path.split("/") if p]
        mine = [b for i, b in self.batches.items() if self.owners[i] == account.id]
        if len(parts) == 1 and method == "GET":
            page, total = _page(mine, query)
            return {"batches": page, "total_items": total}
        if len(parts) == 1 and method == "POST":
            return self.run(account, body, base_url)
        if len(parts) == 2 and method == "GET":
            found = self.batches.get(parts[1])
            if found is None or self.owners[parts[1]] != account.id:
                raise _not_found()
            return found
        raise _not_found()

    def run(self, account: Account, body: Any, base_url: str) -> dict[str, Any]:
        operations = body.get("operations") if isinstance(body, dict) else None
        if not isinstance(operations, list):
            raise _invalid("operations", "This value should not be blank.")
        answers, errored = [], 0
        for op in operations:
            op_body = json.loads(op["body"]) if isinstance(op.get("body"), str) else {}
            status, answer = self.api.call(
                account,
                str(op.get("method", "GET")).upper(),
                str(op.get("path", "")),
                {k: str(v) for k, v in (op.get("params") or {}).items()},
                op_body,
                base_url,
            )
            errored += status >= 400
            answers.append(
                {
                    "status_code": status,
                    "operation_id": op.get("operation_id"),
                    "response": json.dumps(answer),
                }
            )
        batch_id = secrets.token_hex(5)
        self.results[batch_id] = self._archive(batch_id, answers)
        batch = {
            "id": batch_id,
            "status": "finished",
            "total_operations": len(operations),
            "finished_operations": len(operations),
            "errored_operations": errored,
            "submitted_at": _stamp(),
            "completed_at": _stamp(),
            "response_body_url": f"{base_url}{self.api.prefix}/_batch_results/{batch_id}.tar.gz",
        }
        self.batches[batch_id], self.owners[batch_id] = batch, account.id
        return batch

    @staticmethod
    def _archive(batch_id: str, answers: list[dict[str, Any]]) -> bytes:
        data = json.dumps(answers).encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(f"{batch_id}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        return gzip.compress(buffer.getvalue())

    async def result(self, request: Request) -> Response:
        data = self.results.get(request.path_params["id"])
        if data is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return Response(data, media_type="application/gzip")
