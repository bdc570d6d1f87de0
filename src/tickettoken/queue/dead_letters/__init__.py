"""Dead letters: jobs that exhausted their attempts, listed and requeued."""
