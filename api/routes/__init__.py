"""The REST routers, one module per resource, mounted under /api/v1 by api.app."""
