"""What the benchmarks share for recording: replacing one `## ` section of docs/performance.md."""

from __future__ import annotations


def replace_section(doc: str, heading: str, text: str) -> str:
    """`doc` with the section under `heading` replaced by `text` (appended when absent)."""
    lines = doc.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        return doc.rstrip("\n") + "\n\n" + text
    end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + text + ("\n" + tail if tail else "")
