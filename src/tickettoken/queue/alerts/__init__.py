"""Queue alerts: the rules of SPEC section 6, shared cooldowns, history, channels."""
