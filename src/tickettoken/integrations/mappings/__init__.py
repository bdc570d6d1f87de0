"""Field mappings of the integration service: which platform field fills which provider field."""
