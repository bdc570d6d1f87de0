"""Shared plumbing for every service: settings, database, Redis, auth, errors, logging, metrics.

Nothing in here knows about any particular service.
"""
