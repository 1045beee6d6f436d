"""What the universe of an experiment was, and how survivorship-biased it is (stated in every report)."""

from __future__ import annotations

import csv
from pathlib import Path

MEMBERSHIP = Path("universe") / "nasdaq100_membership.csv"
LIST_NOTE = "universe list: NASDAQ-100 constituents of 2025-08-03 (src/adaptrade/resources/nasdaq100.csv), first 50 in list order"


def _member_on(added: str, removed: str, day: str) -> bool | None:
    """Membership on `day` from one row; None when the row is ambiguous (several stints: added > removed)."""
    if added and removed and added > removed:
        return None
    return (not added or added <= day) and (not removed or removed > day)


def survivorship(data_dir: Path | None, symbols: list[str], start: str, end: str, source: str) -> dict[str, object]:
    """Universe, dates and the survivorship facts that can be checked against the membership history."""
    out: dict[str, object] = {"universe": LIST_NOTE, "symbols": list(symbols), "start": start, "end": end}
    if source == "synthetic":
        out["statement"] = ("synthetic prices for today's NASDAQ-100 tickers: no listings, delistings or index changes; "
                            "the names are labels only.")
        return out
    path = (data_dir / MEMBERSHIP) if data_dir is not None else None
    base = (f"today's constituents (2025-08-03 snapshot) were not all NASDAQ-100 members on {start}; the price files exist only "
            "for symbols still listed in March 2024, so acquired and delisted members are missing and the result is "
            "survivorship-biased (upward).")
    if path is None or not path.exists():
        out["statement"] = base + " (membership history not found, so the overlap was not measured)"
        return out
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    members = {r["symbol"]: _member_on(r["added_date"] or "", r["removed_date"] or "", start) for r in rows}
    chosen = set(symbols)
    were = sorted(s for s in chosen if members.get(s) is True)
    not_then = sorted(s for s in chosen if members.get(s) is False)
    unknown = sorted(s for s in chosen if members.get(s) is None or s not in members)
    then = sorted(s for s, m in members.items() if m is True)
    daily = data_dir / "ohlcv" / "daily" if data_dir is not None else None
    no_data = sorted(s for s in then if daily is not None and not (daily / f"{s}.csv.gz").exists())
    out.update({
        "members_at_start": len(were), "not_members_at_start": not_then, "membership_unclear": unknown,
        "index_members_at_start": len(then), "members_at_start_without_data": no_data,
        "statement": base + f" Of the {len(chosen)} stocks used, {len(were)} were members on {start}, {len(not_then)} were not "
                     f"({', '.join(not_then) or 'none'}), {len(unknown)} unclear; of the {len(then)} members on {start} per "
                     f"nasdaq100_membership.csv, {len(no_data)} have no price file (acquired or delisted).",
    })
    return out
