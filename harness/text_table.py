"""Plain-text tables for the terminal: the run summary, the gate and `compare` print through here."""
from __future__ import annotations


def aligned(rows) -> list[str]:
    """Rows of cells as left-aligned columns two spaces apart, a rule under the first row (the header)."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines
