"""Queue monitoring: Prometheus gauges per queue, the ``queue_metrics`` sampler, history queries."""
