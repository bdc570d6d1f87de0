"""Health of every connected integration (SPEC 5.2, 5.3): a live check on a schedule (each
connection claimed by one instance), the 24 h figures of ``integration_health`` with the status
rule, rolling metrics from the checks kept in ``integration_health_samples``, and the routes."""
