"""The page cache's LRU bounds: entries and bytes, least recently used dropped first; 0 entries is off."""

from __future__ import annotations

from adaptrade.api.page_cache import PageCache


def test_lru_drops_the_least_recently_used_page() -> None:
    c = PageCache(2)
    c.put("a", b"1")
    c.put("b", b"22")
    assert c.get("a") == b"1"  # a is now the most recent
    c.put("c", b"333")
    assert c.get("b") is None and c.get("a") == b"1" and c.get("c") == b"333"
    assert len(c) == 2 and c.size_bytes == 4


def test_byte_budget_and_off() -> None:
    c = PageCache(10, max_bytes=5)
    c.put("a", b"123")
    c.put("b", b"456")  # 6 bytes in all: a goes
    assert c.get("a") is None and c.get("b") == b"456" and c.size_bytes == 3
    c.put("big", b"123456")  # over the budget alone: not kept
    assert c.get("big") is None and c.get("b") == b"456"
    off = PageCache(0)
    off.put("a", b"1")
    assert off.get("a") is None and len(off) == 0
