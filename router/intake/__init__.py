"""frontdesk.router.intake: Where a channel's message becomes a request: the front door (customer
recognition, threading, idempotency, enqueue) and the classification rules that pick queue,
category, priority, skills and tier."""
