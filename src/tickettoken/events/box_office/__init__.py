"""Seats sold at a venue's box office (a Square POS sale of a synced ticket item), taken from
the platform's inventory by the event service (docs/decisions/integration-webhooks.md)."""
