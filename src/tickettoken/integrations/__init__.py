"""Integration service: Square, Stripe, Mailchimp and QuickBooks connections and sync."""
