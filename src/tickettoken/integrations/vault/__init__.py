"""The integration service's secrets at rest: which columns the vault seals (``sealed``) and the
re-encryption of every one of them under the newest key (``rotate``). The cipher and the keys
are the kit's (kit/vault.py)."""
