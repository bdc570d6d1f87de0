"""Local emulators of the providers the platform calls (for tests and ``tickettoken up``).

They keep state in the memory of their own process on purpose: each is a stand-in for an outside
provider, started fresh per test run, never part of the platform's own state.
"""
