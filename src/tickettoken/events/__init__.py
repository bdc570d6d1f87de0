"""Event service: venues, events, ticket types, pricing, reservations, orders, customers."""
