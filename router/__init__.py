"""frontdesk.router: everything between the channels and the agents, in rooms: the daemon
(daemon), the HTTP API (api, http), the config's language (conf), intake and routing, the outbox
and what it delivers (outbound), the simulator (sim), the load-test tool (bench) and the command
line (cli). tests/test_layout.py keeps which room may import which."""

__version__ = "0.1.0"
