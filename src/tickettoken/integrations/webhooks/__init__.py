"""Inbound provider webhooks (SPEC 5.2, 5.3): verified over the raw bytes, stored once per
provider event id, answered at once and applied by ``webhook`` jobs
(docs/decisions/integration-webhooks.md)."""
