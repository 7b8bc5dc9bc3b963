"""frontdesk.channels.mail: The mail channels: the SMTP server, the IMAP poller and its client, and
the parsing of a message into a request."""
