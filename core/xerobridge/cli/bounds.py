"""The ranges the command line takes numbers in: a mistyped number is refused in one line
(exit 2, naming the range) before it reaches the store or a date computation."""

from __future__ import annotations

#: Rows a listing shows at most.
MAX_ROWS = 10_000
#: Days a report looks back at most.
MAX_DAYS = 36_600  # a century
#: The largest id the store can hold (a signed 64-bit integer).
MAX_ID = 2**63 - 1
