"""Square emulator: OAuth, merchants, locations, catalog, customers, orders, payments, inventory.

Mounted at ``/square`` of the sandbox (Mailchimp uses ``/oauth2`` at the root), so the official
SDK is pointed at ``base_url=<sandbox>/square``.
"""

from tickettoken.sandbox.square.api import SquareAPI

__all__ = ["SquareAPI"]
