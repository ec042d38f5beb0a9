"""The core's dashboard pages; each module's `register_routes()` lists its routes."""
