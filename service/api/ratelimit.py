"""A per-caller token bucket, in process: enough for one server; a shared limiter belongs in the proxy."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """`rate_per_minute` tokens refill evenly; a caller may spend up to `burst` at once.

    `acquire(who)` returns 0 when the request may go ahead, else the whole seconds to wait (for Retry-After).
    """

    MAX_CALLERS = 10_000  # bounds memory under many client addresses: full buckets are forgotten first

    def __init__(self, rate_per_minute: int, burst: int = 0, clock=time.monotonic):
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst or rate_per_minute)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # who -> (tokens, last refill time)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, who: str) -> int:
        if not self.enabled:
            return 0
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[who] = (tokens - 1, now)
                if len(self._buckets) > self.MAX_CALLERS:
                    self._forget_full(now)
                return 0
            self._buckets[who] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.rate))

    def _forget_full(self, now: float) -> None:
        for who, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.burst:
                del self._buckets[who]
