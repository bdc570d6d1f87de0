"""Healing a stored mapping: what to keep, rename or drop when the field table has moved on.

The original's ``healMapping`` replaced an unknown target by the first field whose name merely
*contained* it or ended the same way (``customer.email`` could become ``customer.email_address``
of another object), logged the changes and told the caller nothing. Here only known renames
are followed (the original's field names, listed below), a rename keeps a rule only if the
renamed rule is valid, and every change is reported to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from tickettoken.integrations.mappings.rules import Rule, load_rules, rule_problems

# The original's names (its ``getAvailableFields``) and what they are called now; a target may
# also need a transform its old form lacked (the original sent 25.00 as Stripe's unit_amount).
SOURCE_RENAMES: Final[dict[str, str]] = {
    "event.price": "ticket_type.price",
    "ticket.type": "ticket_type.name",
    "ticket.price": "ticket_type.price",
    "customer.firstName": "customer.first_name",
    "customer.lastName": "customer.last_name",
    "transaction.amount": "order.total",
}
TARGET_RENAMES: Final[dict[str, dict[str, tuple[str, str | None]]]] = {
    "square": {
        "item.name": ("catalog_item.item_data.name", None),
        "item.description": ("catalog_item.item_data.description", None),
        "item.variation.price": (
            "catalog_variation.item_variation_data.price_money.amount",
            "to_cents",
        ),
    },
    "stripe": {"price.unit_amount": ("price.unit_amount", "to_cents")},
    "mailchimp": {
        "email_address": ("member.email_address", None),
        "merge_fields.FNAME": ("member.merge_fields.FNAME", None),
        "merge_fields.LNAME": ("member.merge_fields.LNAME", None),
        "tags": ("member.tags", None),
    },
    "quickbooks": {"Invoice.Line.Amount": ("Invoice.Line.0.Amount", None)},
}


@dataclass(frozen=True)
class Change:
    action: Literal["removed", "renamed"]
    rule: Rule
    reason: str
    renamed_to: Rule | None = None


def _renamed(provider: str, rule: Rule) -> Rule | None:
    source = SOURCE_RENAMES.get(rule.source, rule.source)
    target, transform = TARGET_RENAMES.get(provider, {}).get(rule.target, (rule.target, None))
    candidate = Rule(source, target, rule.transform or transform)
    return None if candidate == rule else candidate


def heal_rules(provider: str, rules: list[Rule]) -> tuple[list[Rule], list[Change]]:
    """The rules that still hold (renamed where a known rename makes them hold) and every
    change, in the order of the rules; the first rule of a target wins."""
    kept: list[Rule] = []
    changes: list[Change] = []
    targets: set[str] = set()
    for index, rule in enumerate(rules):
        problems = rule_problems(provider, rule, f"mappings[{index}]")
        result, change = rule, None
        if problems:
            renamed = _renamed(provider, rule)
            if renamed is not None and not rule_problems(provider, renamed, ""):
                result = renamed
                change = Change("renamed", rule, "renamed field of the original", renamed)
            else:
                changes.append(Change("removed", rule, problems[0].message))
                continue
        if result.target in targets:
            changes.append(Change("removed", rule, f"duplicate target '{result.target}'"))
            continue
        targets.add(result.target)
        kept.append(result)
        if change is not None:
            changes.append(change)
    return kept, changes


def usable_rules(provider: str, stored: Any) -> list[Rule]:
    """The rules of a stored mapping that hold today (what the sync engine and ``test`` apply):
    a stale rule is skipped, never an error in the middle of a sync."""
    rules, _unreadable = load_rules(stored)
    kept, _changes = heal_rules(provider, rules)
    return kept
