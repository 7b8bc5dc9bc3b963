"""frontdesk.router.api: The HTTP API on the daemon's listener: requests, the agents' work and
their WebSocket, the outbox, the customer's status lookup; `create_app(services)` mounts it on the
services the daemon built."""
