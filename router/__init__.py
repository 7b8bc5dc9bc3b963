"""frontdesk.router: the daemon (CLI, app wiring, HTTP API), the matcher, offers, SLA."""

__version__ = "0.1.0"
