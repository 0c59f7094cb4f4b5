"""Task plots (PNG, matplotlib Agg), drawn from result dicts and their sidecar arrays only.

The helpers here are shared by every plot module: a headless pyplot, file-name slugs, and saving.
"""
from __future__ import annotations

import re
from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def slug(*parts) -> str:
    """A file-name-safe name from the parts joined by '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(str(p) for p in parts)).strip("_")


def save_figure(fig, out: Path, *, dpi: int = 110, tight: bool = False) -> Path:
    """Write `fig` to `out` (folders created), close it, return the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not tight:
        fig.tight_layout()
    fig.savefig(out, dpi=dpi, bbox_inches="tight" if tight else None)
    pyplot().close(fig)
    return out
