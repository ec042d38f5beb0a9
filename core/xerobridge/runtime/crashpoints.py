"""Named points where a process can be made to die (SIGKILL), for the exactly-once tests.

`XEROBRIDGE_CRASH_AT=point[:n]` kills the process the n-th time it reaches `point` (first by
default); `XEROBRIDGE_CRASH_MARKER=file` gets the point's name appended just before, so a test
can show the point was really hit. Unset, a point costs one dictionary look-up.
"""

from __future__ import annotations

import os
import signal

POINTS = ("after_claim", "before_write", "after_commit", "after_link")
_counts: dict[str, int] = {}


def reached(name: str) -> None:
    """Die here if the environment names this point (and this is its n-th visit)."""
    wanted = os.environ.get("XEROBRIDGE_CRASH_AT")
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] != int(nth or 1):
        return
    marker = os.environ.get("XEROBRIDGE_CRASH_MARKER")
    if marker:
        with open(marker, "a", encoding="utf-8") as fh:
            fh.write(f"{name}\n")
    os.kill(os.getpid(), signal.SIGKILL)
