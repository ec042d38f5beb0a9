"""The plugin contract: the hooks, the values that pass through them, settings and loading."""
