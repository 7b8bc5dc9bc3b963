"""frontdesk.router.bench: `frontdesk bench`: the load-test tool (a load generator, simulated
agents over the WebSocket) and its report."""
