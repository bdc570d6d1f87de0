"""Inventory: the only writer of ``ticket_types.sold`` and ``ticket_types.reserved``.

Why a domain of its own (not a module of ``ticket_types``): the counters are changed by three
other domains (reservations hold and release, orders confirm, cancel and pay, the catalogue's
event cancellation) and must obey one lock order among them; a leaf domain that imports no other
domain can be called by all of them without import cycles, while ``ticket_types`` (the catalogue
of ticket types: names, prices, quantities) is itself used by the catalogue. Everything public is
in ``service``.
"""
