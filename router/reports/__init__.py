"""Reports: figures kept per hour as the events happen (an outbox sink adds each event once
across daemons), read back into tables by day, week or month in a calendar's timezone, and shown
as a table, CSV, JSON or an HTML page with charts."""
