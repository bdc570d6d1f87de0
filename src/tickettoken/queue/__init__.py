"""Queue service: the three job tiers, handlers, rate limits, monitoring and alerts."""
