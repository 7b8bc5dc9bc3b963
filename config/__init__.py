"""frontdesk.config: the YAML files that ship with frontdesk (defaults, notice templates,
examples)."""
