"""The ann-benchmarks Pareto frontier (methods.md §6.4), the one implementation: the report draws it and
`tasks.metrics.ann` re-exports it. Pure Python, no imports, so any caller may use it."""
from __future__ import annotations


def pareto_front(points, *, higher_x: bool = True, higher_y: bool = True) -> list[tuple[float, float]]:
    """ann-benchmarks `create_pointset`: sort by y (best first) then x (best first), keep a point iff
    its x beats every x kept so far; points with a falsy x or y are skipped."""
    sx, sy = (-1 if higher_x else 1), (-1 if higher_y else 1)
    pts = sorted(((float(x), float(y)) for x, y in points if x and y), key=lambda p: (sy * p[1], sx * p[0]))
    front, best = [], None
    for x, y in pts:
        if best is None or (x > best if higher_x else x < best):
            front.append((x, y))
            best = x
    return front
