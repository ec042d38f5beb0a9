"""Sandboxes: faithful emulators of the systems xerobridge talks to, for tests and the demo."""
