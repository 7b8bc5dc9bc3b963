"""frontdesk.router.cli: The command line: `frontdesk serve | check | simulate | bench | events |
outbox`, and the options every command shares."""
