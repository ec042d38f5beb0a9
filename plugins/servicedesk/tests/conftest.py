"""Fixtures of the ServiceDesk plugin's tests; they live in servicedesk_helpers."""

from servicedesk_helpers import *  # noqa: F403  (pytest collects the fixtures from this namespace)
