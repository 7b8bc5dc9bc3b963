"""frontdesk.router.outbound.helpdesks: The helpdesk connectors (Zammad, Zendesk, Chatwoot): one
sink each, telling the helpdesk who got what."""
