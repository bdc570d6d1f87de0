"""Queues: counts and status, a queue's jobs, pause, resume, clear."""
