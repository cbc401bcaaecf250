"""The one clock leases are judged by: this process's monotonic clock.

Never a wall clock and never a file's time, so hosts need not agree on the time.
Every module of this layer reads it here, so a test can drive them all at once.
"""

from __future__ import annotations

import time

# Bound, not wrapped: one C call per reading (it is read on every pull and renewal).
now = time.monotonic
