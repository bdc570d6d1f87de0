"""API gateway: routing, edge auth, resilience, discovery, rate limits, caching, aggregation."""
