"""A bounded LRU of encoded run-table pages. A finished run's tables never change (a re-save gets a new
finished time, which is part of the key), so a page read once is served again without touching the store;
runs still being written (finished is NULL: a running job, a paper session between saves) are never cached."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class PageCache:
    """Up to `entries` pages and `max_bytes` bytes of JSON, least recently used dropped first; 0 entries: off."""

    def __init__(self, entries: int, max_bytes: int = 64 << 20) -> None:
        self.entries, self.max_bytes = entries, max_bytes
        self._pages: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        """The cached page, or None (counted as a miss)."""
        with self._lock:
            body = self._pages.get(key)
            if body is None:
                self.misses += 1
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        """Keep `body` under `key` (not when the cache is off or the page alone is over the byte budget)."""
        if self.entries <= 0 or len(body) > self.max_bytes:
            return
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._pages[key] = body
            self._bytes += len(body)
            while len(self._pages) > self.entries or self._bytes > self.max_bytes:
                _, dropped = self._pages.popitem(last=False)
                self._bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._pages)

    @property
    def size_bytes(self) -> int:
        """Bytes of JSON held."""
        return self._bytes
