"""Venue payouts: a payout row the platform creates, paid by its own ``payout-process`` job."""
