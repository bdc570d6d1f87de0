"""The sync engine: a queued job moves a venue's data to a provider in leased work items, with
upserts, batches and an incremental cursor (docs/decisions/integration-sync.md)."""
