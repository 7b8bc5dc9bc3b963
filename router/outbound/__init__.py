"""frontdesk.router.outbound: Events going out, durably: the outbox engine and its sinks, signed
webhooks (CloudEvents), the helpdesk connectors and the customer notices."""
