"""The demo season (``tickettoken seed --demo``, ``up --demo``): a year of sales made through the
event service's own code and settled as a payment provider and a queue worker would.

It spans two services (the event service's sales, the queue engine's job records), so it lives
beside the service table rather than inside either service.
"""
