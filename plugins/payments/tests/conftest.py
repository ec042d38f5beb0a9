"""Fixtures of the payments plugin's tests; they live in payments_helpers, imported from there."""

from payments_helpers import *  # noqa: F403  (pytest collects the fixtures from this namespace)
