"""One module per job type of SPEC section 6; the service table (``tickettoken.services``)
declares which function handles which type, with its timeout."""
