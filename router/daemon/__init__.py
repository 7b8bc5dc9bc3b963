"""frontdesk.router.daemon: One frontdesk process: assembles the settings from the YAML, starts
Redis (embedded or configured) and connects to it, builds the stores, channels and background
tasks, reloads on SIGHUP, and keeps the metrics. The only room that builds stores and channels."""
