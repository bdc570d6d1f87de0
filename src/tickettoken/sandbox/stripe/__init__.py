"""The Stripe emulator's parts: errors, request parsing, lists and search, the rate limit, the
catalog (products, prices, customers), Connect OAuth and signed webhook events.

The payments resources and the request pipeline that ties these together stay in
``sandbox/payments.py``, which the queue's handler tests already drive.
"""
