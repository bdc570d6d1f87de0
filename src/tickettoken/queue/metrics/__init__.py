"""Queue metrics over HTTP: summary, throughput, failures, Prometheus text."""
