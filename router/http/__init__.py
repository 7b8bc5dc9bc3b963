"""frontdesk.router.http: What every HTTP handler shares: the one JSON error renderer (and CORS),
authentication, body parsing, the OpenAPI document and the JSON views of a request. A leaf over
queues and skills."""
