"""The queue service's routes over the shared provider rate limiter. The limiter itself lives in
``tickettoken.kit.provider_limits`` because the integration service's provider clients use it
too, and a service never imports another service."""
