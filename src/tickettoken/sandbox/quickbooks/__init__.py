"""QuickBooks Online emulator: Intuit OAuth 2 with rotating refresh tokens, Accounting API v3.

Mounted at ``/quickbooks`` of the sandbox.
"""

from tickettoken.sandbox.quickbooks.api import QuickBooksAPI

__all__ = ["QuickBooksAPI"]
