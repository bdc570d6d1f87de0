"""Platform administration of the integration service (SPEC 5.2, role ``admin`` only): every
venue's integrations, a health summary, costs, and the sync queue's repairs (force a sync, clear
with a filter, dead letters back to pending, stale ``processing`` rows recovered)."""
