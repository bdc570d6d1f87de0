"""Customers coming back from a provider: matched, compared, applied to the platform.

A provider's customer is matched to the platform's through ``integration_synced_records`` (its
remote id), then the platform id the provider keeps (Square ``reference_id``, Stripe metadata),
then the email within the venue (case-insensitive); a customer already linked to another object
of the provider keeps its link, so nothing is ever duplicated or merged. One that exists only
at the provider is **imported** as the venue's customer (``imported``): its name, email, phone
and, from Mailchimp, its consent; its provider id is recorded in the synced records with the
hash of what both sides now hold, so the next push neither creates it again nor rewrites it.
One without an email is not imported (the email is how the platform knows a customer).
A matched customer's view (mapping.customer_view) is compared with the platform's values:

- equal: nothing is written to the platform (only the stored version and hash, when they moved);
- the provider changed it since our last sync and the platform did not: the provider's values
  are applied (name, phone, email unless another customer of the venue has it, Mailchimp
  consent);
- both changed (or there is no earlier sync to tell): a conflict; the newer change wins (the
  platform's ``updated_at`` against the provider's update time; a provider that records none,
  Stripe, loses), and the conflict is kept for the sync's log with both values and the winner;
- only the platform changed: left for the to-provider half.

When both sides then hold the same values, the stored content hash becomes the hash of the
platform's record, so the next to-provider run does not send the change back (a value only the
platform holds keeps the old hash: the push still sends it); the stored version (Square ``version``,
QuickBooks ``SyncToken``) follows the provider, so the next update is not refused as stale.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.integrations.sync import repository as repo
from tickettoken.integrations.sync.customer_fetch import RemoteCustomer
from tickettoken.integrations.sync.mapping import (
    customer_view,
    map_customer,
    same_content,
    view_hash,
)

ENTITY = "customers"
CUSTOMER_COLUMNS = "id, email, first_name, last_name, phone, marketing_consent, updated_at"
MAX_CONFLICTS_LOGGED = 200
WRITABLE = ("first_name", "last_name", "email", "phone")
# The provider's consent (Mailchimp), with when and from where when it changes.
CONSENT_SET = (
    "marketing_consent_at = CASE WHEN marketing_consent IS DISTINCT FROM CAST(:consent AS"
    " boolean) THEN now() ELSE marketing_consent_at END,"
    " marketing_consent_source = CASE WHEN marketing_consent IS DISTINCT FROM CAST(:consent AS"
    " boolean) THEN 'provider_sync' ELSE marketing_consent_source END,"
    " marketing_consent = CAST(:consent AS boolean)"
)


@dataclass
class PullResult:
    applied: int = 0
    imported: int = 0
    unchanged: int = 0
    unmatched: int = 0
    kept_platform: int = 0
    failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # applied without the email: see module doc
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: PullResult) -> None:
        self.applied += other.applied
        self.imported += other.imported
        self.unchanged += other.unchanged
        self.unmatched += other.unmatched
        self.kept_platform += other.kept_platform
        self.failed += other.failed
        self.notes += other.notes
        self.conflicts += other.conflicts


def _platform_values(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "first_name": row.get("first_name"),
        "last_name": row.get("last_name"),
        "email": row.get("email"),
        "phone": row.get("phone"),
        "marketing_consent": bool(row.get("marketing_consent")),
    }


def _same(name: str, a: Any, b: Any) -> bool:
    if name == "email" and a is not None and b is not None:
        return str(a).lower() == str(b).lower()
    return bool(a == b)


def differences(provider: str, row: dict[str, Any], remote: RemoteCustomer) -> dict[str, Any]:
    """Field -> {"platform": x, "provider": y} where the provider holds another value."""
    mine = customer_view(provider, _platform_values(row))
    return {
        name: {"platform": mine.get(name), "provider": value}
        for name, value in remote.view.items()
        if not _same(name, mine.get(name), value)
    }


def agrees(provider: str, row: dict[str, Any], remote: RemoteCustomer) -> bool:
    """The provider holds exactly the platform's values (not merely none that differ: a phone
    set on the platform and absent at the provider still has to be pushed)."""
    mine = customer_view(provider, _platform_values(row))
    return set(mine) == set(remote.view) and not differences(provider, row, remote)


async def _links(
    session: AsyncSession, venue_id: uuid.UUID, provider: str, remotes: list[RemoteCustomer]
) -> dict[str, str]:
    """remote id -> local id of the customers already synced, for one page, in one query."""
    rows = await session.execute(
        text(
            # joined with the ids, as ``repository.synced_records`` (no per-row array search)
            "SELECT s.remote_id, local_id FROM integration_synced_records s"
            " JOIN unnest(CAST(:remote AS text[])) AS wanted(remote_id)"
            " ON s.remote_id = wanted.remote_id"
            " WHERE venue_id = :venue AND provider = :provider AND entity_type = :entity"
            " ORDER BY synced_at"
        ),
        {
            "venue": venue_id,
            "provider": provider,
            "entity": ENTITY,
            "remote": [r.remote_id for r in remotes],
        },
    )
    return {row.remote_id: row.local_id for row in rows}


def _candidate_ids(remote: RemoteCustomer, linked: str | None) -> list[uuid.UUID]:
    ids = []
    for local_id in (linked, remote.local_hint):
        if not local_id:
            continue
        try:
            ids.append(uuid.UUID(str(local_id)))
        except ValueError:
            continue
    return ids


async def _lock_page(
    session: AsyncSession,
    venue_id: uuid.UUID,
    remotes: list[RemoteCustomer],
    links: dict[str, str],
) -> None:
    """Lock every customer row the page may match, in one statement ordered by id.

    Two pulls of one venue at once (two providers) list overlapping customers in their own
    orders; locking row by row in listing order let each hold a row the other waited for
    (``deadlock detected``). One consistent order makes them queue instead. ``_match`` then
    reads rows this transaction already holds."""
    ids = [i for r in remotes for i in _candidate_ids(r, links.get(r.remote_id))]
    emails = [str(r.view["email"]).lower() for r in remotes if r.view.get("email")]
    if not ids and not emails:
        return
    await session.execute(
        text(
            "SELECT id FROM customers WHERE venue_id = :venue"
            " AND (id = ANY(:ids) OR lower(email) = ANY(:emails)) ORDER BY id FOR UPDATE"
        ),
        {"venue": venue_id, "ids": ids, "emails": emails},
    )


async def _match(
    session: AsyncSession, venue_id: uuid.UUID, remote: RemoteCustomer, linked: str | None
) -> dict[str, Any] | None:
    for wanted in _candidate_ids(remote, linked):
        row = await session.execute(
            text(
                f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = :id AND venue_id = :venue"
                " FOR UPDATE"
            ),
            {"id": wanted, "venue": venue_id},
        )
        found = row.mappings().first()
        if found:
            return dict(found)
    email = remote.view.get("email")
    if not email:
        return None
    row = await session.execute(
        text(
            f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE venue_id = :venue"
            " AND lower(email) = lower(:email) FOR UPDATE"
        ),
        {"venue": venue_id, "email": email},
    )
    found = row.mappings().first()
    return dict(found) if found else None


async def _email_taken(
    session: AsyncSession, venue_id: uuid.UUID, customer_id: uuid.UUID, email: str
) -> bool:
    other = await session.scalar(
        text(
            "SELECT 1 FROM customers WHERE venue_id = :venue AND lower(email) = lower(:email)"
            " AND id <> :id LIMIT 1"
        ),
        {"venue": venue_id, "email": email, "id": customer_id},
    )
    return other is not None


async def _apply(
    session: AsyncSession, row: dict[str, Any], diffs: dict[str, Any]
) -> dict[str, Any]:
    """Write the provider's values to the customer; the row as it now is."""
    values = {name: change["provider"] for name, change in diffs.items()}
    if "name" in values:  # Stripe keeps one name: first word, then the rest
        first, _, last = str(values.pop("name")).partition(" ")
        values["first_name"], values["last_name"] = first, last or None
    consent = values.pop("marketing_consent", None)
    params: dict[str, Any] = {name: values.get(name, row[name]) for name in WRITABLE}
    params["id"] = row["id"]
    sets = [f"{name} = :{name}" for name in WRITABLE]
    if consent is not None:
        sets.append(CONSENT_SET)
        params["consent"] = bool(consent)
    updated = await session.execute(
        text(
            f"UPDATE customers SET {', '.join(sets)},"
            f" updated_at = now() WHERE id = :id RETURNING {CUSTOMER_COLUMNS}"
        ),
        params,
    )
    return dict(updated.mappings().one())


_IMPORT = text(
    "INSERT INTO customers (venue_id, email, first_name, last_name, phone, marketing_consent,"
    " marketing_consent_at, marketing_consent_source)"
    " VALUES (:venue, :email, left(:first_name, 100), left(:last_name, 100), :phone,"
    " :consent, CASE WHEN :consent THEN now() END, CASE WHEN :consent THEN :source END)"
    " ON CONFLICT (venue_id, lower(email)) WHERE user_id IS NULL DO NOTHING"
    f" RETURNING {CUSTOMER_COLUMNS}"
)


def _import_values(remote: RemoteCustomer) -> dict[str, Any] | None:
    """The platform's values of a provider-only customer; None without a usable email."""
    view = remote.view
    email = view.get("email")
    if not isinstance(email, str) or not 3 <= len(email) <= 255 or "@" not in email:
        return None
    first, last = view.get("first_name"), view.get("last_name")
    if "name" in view:  # Stripe keeps one name: first word, then the rest
        first, _, rest = str(view["name"]).partition(" ")
        last = rest or None
    phone = view.get("phone")
    return {
        "email": email,
        "first_name": first or None,
        "last_name": last or None,
        "phone": phone if isinstance(phone, str) and len(phone) <= 50 else None,
        "consent": view.get("marketing_consent") is True,
        "source": "provider_sync",
    }


async def _import(
    session: AsyncSession, venue_id: uuid.UUID, remote: RemoteCustomer
) -> dict[str, Any] | None:
    """The new customer's row, or None (no email; or a customer of that email appeared since
    the match, which the next sync matches)."""
    values = _import_values(remote)
    if values is None:
        return None
    row = (await session.execute(_IMPORT, {"venue": venue_id, **values})).mappings().first()
    return dict(row) if row else None


def _later(remote: RemoteCustomer, row: dict[str, Any]) -> str:
    if remote.updated_at is None:
        return "platform"
    return "provider" if remote.updated_at > row["updated_at"] else "platform"


async def pull_customers(
    session: AsyncSession,
    venue_id: uuid.UUID,
    provider: str,
    remotes: list[RemoteCustomer],
) -> PullResult:
    """Match and apply one page of a provider's customers, in the caller's transaction."""
    result = PullResult()
    links = await _links(session, venue_id, provider, remotes)
    await _lock_page(session, venue_id, remotes, links)
    unmatched = []
    for remote in remotes:
        row = await _match(session, venue_id, remote, links.get(remote.remote_id))
        if row is None:
            unmatched.append(remote)
        else:
            await _reconcile(session, venue_id, provider, remote, row, result)
    # Imports last, in email order: two pulls importing the same new emails wait on each
    # other's uncommitted rows, so they take them in one order too. A remote matches again
    # first: an earlier one of this page may have imported its email.
    for remote in sorted(unmatched, key=lambda r: str(r.view.get("email") or "").lower()):
        row = await _match(session, venue_id, remote, links.get(remote.remote_id))
        if row is not None:
            await _reconcile(session, venue_id, provider, remote, row, result)
            continue
        row = await _import(session, venue_id, remote)
        if row is None:
            result.unmatched += 1
            continue
        result.imported += 1
        new_hash = map_customer(row)["content_hash"] if agrees(provider, row, remote) else ""
        await _save_link(session, venue_id, provider, row, remote, {}, new_hash)
    return result


async def _reconcile(
    session: AsyncSession,
    venue_id: uuid.UUID,
    provider: str,
    remote: RemoteCustomer,
    row: dict[str, Any],
    result: PullResult,
) -> None:
    """One matched customer: compared, applied or kept, its link saved when it moved."""
    local_id = str(row["id"])
    stored = (await repo.synced_records(session, venue_id, provider, ENTITY, [local_id])).get(
        local_id
    )
    if stored is not None and stored["remote_id"] != remote.remote_id:
        # Matched by email or hint, but linked to another object of the provider (a second
        # customer with the same email there): the link stays, nothing is merged.
        result.unmatched += 1
        result.notes.append(
            f"{local_id}: {provider} {remote.remote_id} matches by email, but the customer"
            f" is synced with {stored['remote_id']}; not applied"
        )
        return
    stored_data = dict((stored or {}).get("remote_data") or {})
    remote_hash = view_hash(remote.view)
    diffs = differences(provider, row, remote)
    new_hash = stored["content_hash"] if stored else ""
    if diffs:
        remote_changed = stored_data.get("remote_hash") != remote_hash
        local_changed = stored is None or not same_content(
            stored["content_hash"], map_customer(row)
        )
        winner = "provider"
        if not remote_changed:
            winner = "platform"  # only the platform changed: the push half sends it
        elif local_changed:
            winner = _later(remote, row)
            if len(result.conflicts) < MAX_CONFLICTS_LOGGED:
                result.conflicts.append(
                    {
                        "local_id": local_id,
                        "remote_id": remote.remote_id,
                        "fields": diffs,
                        "platform_updated_at": row["updated_at"].isoformat(),
                        "provider_updated_at": remote.updated_at.isoformat()
                        if remote.updated_at
                        else None,
                        "winner": winner,
                    }
                )
        if winner == "provider":
            email = diffs.get("email", {}).get("provider")
            if email and await _email_taken(session, venue_id, row["id"], email):
                diffs.pop("email")
                result.notes.append(
                    f"{local_id}: email {email} from {provider} belongs to another customer"
                    " of the venue; not applied"
                )
            if diffs:
                row = await _apply(session, row, diffs)
                result.applied += 1
            else:
                result.unchanged += 1
        else:
            result.kept_platform += 1
    else:
        result.unchanged += 1
    if agrees(provider, row, remote):
        new_hash = map_customer(row)["content_hash"]  # both sides hold the same: in sync
    data = {**stored_data, **remote.remote_data, "remote_hash": remote_hash}
    same = (
        stored is not None
        and stored["remote_id"] == remote.remote_id
        and stored["remote_version"] == remote.version
        and stored["content_hash"] == new_hash
        and stored_data == data
    )
    if not same:
        await _save_link(session, venue_id, provider, row, remote, stored_data, new_hash)


async def _save_link(
    session: AsyncSession,
    venue_id: uuid.UUID,
    provider: str,
    row: dict[str, Any],
    remote: RemoteCustomer,
    stored_data: dict[str, Any],
    content_hash: str,
) -> None:
    data = {**stored_data, **remote.remote_data, "remote_hash": view_hash(remote.view)}
    await repo.save_synced(
        session,
        venue_id,
        provider,
        ENTITY,
        [
            {
                "local_id": str(row["id"]),
                "remote_id": remote.remote_id,
                "remote_version": remote.version,
                "content_hash": content_hash,
                "remote_data": data,
            }
        ],
    )


def conflicts_json(conflicts: list[dict[str, Any]]) -> str:
    return json.dumps(conflicts, default=str)
