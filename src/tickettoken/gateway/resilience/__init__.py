"""What keeps one slow or failing service from taking the gateway down with it: route timeouts,
retries within a budget, and a circuit breaker per service."""
