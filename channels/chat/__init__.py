"""frontdesk.channels.chat: The web chat channel: its WebSocket protocol, config, idle timeout
across daemons, and the widget's static files."""
