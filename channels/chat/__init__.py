"""frontdesk.channels.chat: The web chat channel: its WebSocket protocol, config, conversations,
the customer socket and the watching that keeps it up to date, the REST fallback (and its
OpenAPI), the idle timeout across daemons, and the widget's static files."""
