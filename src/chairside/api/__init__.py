"""The HTTP edge: app factory, shared dependencies, middleware, problem responses."""
