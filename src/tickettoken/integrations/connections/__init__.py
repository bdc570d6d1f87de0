"""A venue's connections to its providers (SPEC 5.2): API keys tested live before they are
stored, the OAuth flow with a state every instance shares, and tokens refreshed one at a time per
connection (``credentials.access_credentials`` is what the rest of the service calls)."""
