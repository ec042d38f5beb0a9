"""Constants the marketplace plugin's tests share (tests import them from here, never conftest)."""

from __future__ import annotations

from datetime import UTC, datetime

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOST = "http://sandbox.test"
BASE = HOST + "/marketplace"
