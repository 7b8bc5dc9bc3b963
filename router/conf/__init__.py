"""frontdesk.router.conf: The config's language: the line-aware YAML loader and checker (every
problem with its YAML path and line) and the one parser of working hours. A leaf: imports only
queues and skills."""
