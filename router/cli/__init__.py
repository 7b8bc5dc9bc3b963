"""frontdesk.router.cli: the command line: `frontdesk serve | check-config | token | simulate |
bench | events | outbox`, and the options every command shares."""
