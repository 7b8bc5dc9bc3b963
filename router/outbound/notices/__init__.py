"""frontdesk.router.outbound.notices: Customer notices: what the customer hears of their request
(received, assigned, completed), by mail or on their social channel, from templates."""
