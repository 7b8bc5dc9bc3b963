"""frontdesk.queues: the durable state in Redis: the request model and its codec, the keys (the
only place that knows them), the Lua scripts (one call per state change) and the stores over
them."""
