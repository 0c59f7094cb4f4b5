"""Index definitions as data: per index a build grid and a query grid (ann-benchmarks' split).

Two ways to write them, one meaning (docs/index-grids.md):

- short form (`--indexes`): `NAME(build grid)[query grid]`, a grid being `p=v1,v2;q=v` (the cartesian
  product of the values); several indexes comma-separated at the top level (commas inside () and []
  belong to the grid): `exact,hnswlib(M=16,32;ef_construction=128)[ef=10,20,40,80]`;
- a file (`--index-config FILE`, .json / .yaml / .yml): a list of `{"name", "build", "query"}` (or
  `{"indexes": [...]}`), each value a scalar or a list; a list entry may also be a short-form string.

Values are int, float, true / false, null or bare strings; a string that would read as something else
(or holds `,;()[]=`, spaces or quotes) is written in double quotes, JSON style.

`expand(grids)` gives the *build points*: one `IndexPoint` per build-grid combination, carrying its query
grid. Its `key` is canonical (parameters sorted, values sorted and deduplicated), e.g.
`hnswlib(M=16;ef_construction=128)[ef=10,20,40,80]`, and `parse_point(key)` reads it back. This module
is the grammar only (stdlib, no registry); the runner checks each point against its adapter.
"""
from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import HarnessError

GRAMMAR_HELP = """\
index grids (--indexes): NAME(build grid)[query grid], several comma-separated
  grid:   param=v1,v2;other=v   every combination is a point; () and [] are optional
  values: int, float, true/false, null, bare strings ("quoted" when they hold ,;()[]= or spaces)
  one build per build point; tasks that sweep search every query point on that build,
  other tasks get one job per (build point, query point). Plain NAME = the adapter's defaults.
  example: --indexes "exact,hnswlib(M=16,32;ef_construction=128)[ef=10,20,40,80]"
  file form: --index-config grid.yaml  ([{name: hnswlib, build: {M: [16, 32]}, query: {ef: [10, 20]}}])
  parameters and defaults of every index: run.py list indexes; more: docs/index-grids.md"""

Grid = tuple[tuple[str, tuple[Any, ...]], ...]   # ((param, (value, ...)), ...), params sorted

_SPECIAL = set("()[],;=\"")
_NAME_RE = re.compile(r"[^\s()\[\],;=\"]+")
_PARAM_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_INT_RE = re.compile(r"[-+]?\d+")
_FLOAT_RE = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")
_WORDS = {"true": True, "false": False, "null": None}


class IndexGridError(HarnessError):
    """A malformed index grid (short form or file): names the text or file and the position or entry."""


# -- values -------------------------------------------------------------------------------------------
def read_value(text: str) -> Any:
    """A bare short-form value: int, float, true / false / null (any case), else the string itself."""
    if _INT_RE.fullmatch(text):
        return int(text)
    if _FLOAT_RE.fullmatch(text):
        return float(text)
    return _WORDS.get(text.lower(), text)


def format_value(value: Any) -> str:
    """The canonical text of a value; `read_value` (or a JSON string) reads it back as the same value."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if value and not (set(value) & _SPECIAL) and _NAME_RE.fullmatch(value) and read_value(value) == value:
        return value
    return json.dumps(value)


def _sort_key(value: Any) -> tuple:
    rank = 0 if value is None else 1 if isinstance(value, bool) else 2 if isinstance(value, (int, float)) else 3
    return (rank, value if rank in (1, 2) else "" if rank == 0 else str(value))


def _canonical(values) -> tuple:
    """Values sorted (null, booleans, numbers, strings) without duplicates."""
    out: dict = {}
    for v in values:
        out.setdefault((_sort_key(v), type(v) is float), v)
    return tuple(out[k] for k in sorted(out))


def _format_grid(grid: Grid) -> str:
    return ";".join(f"{p}=" + ",".join(format_value(v) for v in values) for p, values in grid)


# -- grids and points ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexGrid:
    """One index entry as written: its name, build grid and query grid."""
    name: str
    build: Grid = ()
    query: Grid = ()

    def points(self) -> list["IndexPoint"]:
        names = [p for p, _ in self.build]
        return [IndexPoint(self.name, tuple(zip(names, combo)), self.query)
                for combo in itertools.product(*(values for _, values in self.build))]


@dataclass(frozen=True)
class IndexPoint:
    """One build point of an index and the query grid searched on that build."""
    name: str
    build_items: tuple[tuple[str, Any], ...] = ()
    query_grid: Grid = ()

    @property
    def build(self) -> dict:
        return dict(self.build_items)

    @property
    def query_points(self) -> list[dict]:
        """Every query-grid combination; [{}] (the adapter's query defaults) when there is no query grid."""
        names = [p for p, _ in self.query_grid]
        return [dict(zip(names, combo)) for combo in itertools.product(*(values for _, values in self.query_grid))]

    @property
    def build_key(self) -> str:
        """The name and build point alone, e.g. `hnswlib(M=16;ef_construction=128)` (a plot label)."""
        inner = ";".join(f"{p}={format_value(v)}" for p, v in self.build_items)
        return self.name + (f"({inner})" if inner else "")

    @property
    def key(self) -> str:
        """Canonical text of this build point and its query grid; `parse_point` reads it back."""
        return self.build_key + (f"[{_format_grid(self.query_grid)}]" if self.query_grid else "")

    def at(self, query_point: dict) -> "IndexPoint":
        """This build point with a single query point (the key of one retrieval-style job)."""
        return IndexPoint(self.name, self.build_items, tuple((p, (query_point[p],)) for p in sorted(query_point)))


def expand(grids) -> list[IndexPoint]:
    """Every build point of every grid, in order, duplicates (same key) dropped."""
    return list({p.key: p for g in grids for p in g.points()}.values())


def make_grid(name: str, build: dict | None = None, query: dict | None = None, where: str = "index grid") -> IndexGrid:
    """An IndexGrid from parameter -> value-or-list mappings, checked (names, scalar values, no empty list)."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise IndexGridError(f"{where}: index name must be a non-empty string without spaces or ()[],;=\" "
                             f"characters, got {name!r}")
    grids = []
    for part, mapping in (("build", build), ("query", query)):
        if mapping is None:
            mapping = {}
        if not isinstance(mapping, dict):
            raise IndexGridError(f"{where}: {name} {part!r} must map parameter names to a value or a list of "
                                 f"values, got {type(mapping).__name__} {mapping!r}")
        grid = []
        for param, values in mapping.items():
            if not isinstance(param, str) or not _PARAM_RE.fullmatch(param):
                raise IndexGridError(f"{where}: {name} {part} parameter name {param!r} is not a valid name")
            values = list(values) if isinstance(values, (list, tuple)) else [values]
            if not values:
                raise IndexGridError(f"{where}: {name} {part} parameter {param!r} has an empty list of values")
            for v in values:
                if not (v is None or isinstance(v, (bool, int, str)) or (isinstance(v, float) and math.isfinite(v))):
                    raise IndexGridError(f"{where}: {name} {part} parameter {param!r}: value {v!r} is not an int, "
                                         f"finite float, true/false, null or string")
            grid.append((param, _canonical(values)))
        grids.append(tuple(sorted(grid)))
    return IndexGrid(name, grids[0], grids[1])


# -- the short form -----------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str, where: str):
        self.text, self.where, self.pos = text, where, 0

    def fail(self, message: str, pos: int | None = None):
        pos = self.pos if pos is None else pos
        rest = self.text[pos:pos + 20]
        here = f"before {rest!r}" if rest else "at the end"
        raise IndexGridError(f"{self.where} {self.text!r}: {message} at position {pos + 1} ({here})")

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def match(self, regex: re.Pattern) -> str:
        self.ws()
        m = regex.match(self.text, self.pos)
        if not m:
            return ""
        self.pos = m.end()
        return m.group()

    def entries(self) -> list[IndexGrid]:
        out = []
        while True:
            out.append(self.entry())
            c = self.peek()
            if not c:
                return out
            if c != ",":
                self.fail("expected ',' between indexes or the end of the list")
            self.pos += 1

    def entry(self) -> IndexGrid:
        start = self.pos
        name = self.match(_NAME_RE)
        if not name:
            self.fail("expected an index name")
        build = self.grid("(", ")", name, "build") if self.peek() == "(" else ()
        query = self.grid("[", "]", name, "query") if self.peek() == "[" else ()
        if self.peek() == "(":
            self.fail(f"the build grid (...) of {name} must come before its query grid [...]")
        if self.peek() == "[":
            self.fail(f"{name} has a second query grid [...]")
        try:
            return make_grid(name, dict(build), dict(query), self.where)
        except IndexGridError as e:
            self.fail(str(e).split(": ", 1)[-1], start)

    def grid(self, open_: str, close: str, name: str, part: str) -> list:
        self.pos += 1   # the opening bracket
        params: list = []
        while self.peek() != close:
            at = self.pos
            param = self.match(_PARAM_RE)
            if not param:
                self.fail(f"expected a {part} parameter name of {name} or '{close}'")
            if any(p == param for p, _ in params):
                self.fail(f"{part} parameter {param!r} of {name} is given twice", at)
            if self.peek() != "=":
                self.fail(f"expected '=' after {part} parameter {param!r} of {name}")
            self.pos += 1
            values = [self.value(param)]
            while self.peek() == ",":
                self.pos += 1
                values.append(self.value(param))
            params.append((param, values))
            c = self.peek()
            if c == ";":
                self.pos += 1
            elif c != close:
                self.fail(f"expected ',' (another value), ';' (another parameter) or '{close}' in the {part} "
                          f"grid of {name}")
        self.pos += 1
        return params

    def value(self, param: str) -> Any:
        if self.peek() == '"':
            try:
                value, end = json.JSONDecoder().raw_decode(self.text, self.pos)
            except json.JSONDecodeError:
                self.fail(f"unterminated or malformed quoted value of {param!r}")
            self.pos = end
            return value
        text = self.match(_NAME_RE)
        if not text:
            self.fail(f"expected a value for {param!r}")
        return read_value(text)


def parse_indexes(text: str, where: str = "--indexes") -> list[IndexGrid]:
    """The short form (one or several comma-separated entries) as IndexGrids."""
    if not isinstance(text, str) or not text.strip():
        raise IndexGridError(f"{where}: empty index list; expected e.g. \"exact,hnswlib[ef=10,20]\"")
    return _Parser(text, where).entries()


def parse_point(key: str) -> IndexPoint:
    """An IndexPoint from its key (or any short form naming exactly one build point)."""
    points = expand(parse_indexes(key, "index point"))
    if len(points) != 1:
        raise IndexGridError(f"index point {key!r} names {len(points)} build points, not one")
    return points[0]


# -- entries as data (files, Task.default_indexes()) ------------------------------------------------
_ENTRY_FIELDS = ("name", "build", "query")


def from_entries(entries, where: str) -> list[IndexGrid]:
    """Short-form strings, {"name", "build", "query"} dicts or IndexGrids, as IndexGrids."""
    if isinstance(entries, (str, dict, IndexGrid)):
        entries = [entries]
    out: list[IndexGrid] = []
    for i, entry in enumerate(entries or (), 1):
        at = f"{where} entry {i}"
        if isinstance(entry, IndexGrid):
            out.append(entry)
        elif isinstance(entry, str):
            out.extend(parse_indexes(entry, at))
        elif isinstance(entry, dict):
            unknown = sorted(map(str, set(entry) - set(_ENTRY_FIELDS)))
            if unknown:
                raise IndexGridError(f"{at}: unknown field(s) {', '.join(map(repr, unknown))}; "
                                     f"valid: {', '.join(_ENTRY_FIELDS)}")
            if "name" not in entry:
                raise IndexGridError(f"{at}: missing field 'name'")
            out.append(make_grid(entry["name"], entry.get("build"), entry.get("query"), at))
        else:
            raise IndexGridError(f"{at}: expected {{\"name\", \"build\", \"query\"}} or a short-form string, "
                                 f"got {type(entry).__name__} {entry!r}")
    return out


def load_index_config(path) -> list[IndexGrid]:
    """An index-config file (.json, .yaml, .yml) as IndexGrids; errors name the file (and line, entry)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise IndexGridError(f"--index-config {path}: expected a .json, .yaml or .yml file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise IndexGridError(f"--index-config {path}: cannot read it ({e.strerror or e})") from None
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise IndexGridError(f"{path}:{e.lineno}: not valid JSON ({e.msg}, column {e.colno})") from None
    else:
        data = _load_yaml(text, path)
    if isinstance(data, dict):
        extra = sorted(map(str, set(data) - {"indexes"}))
        if extra or "indexes" not in data:
            raise IndexGridError(f"{path}: a mapping at the top must hold only 'indexes' (a list)"
                                 + (f"; found {', '.join(map(repr, extra))}" if extra else ""))
        data = data["indexes"]
    if not isinstance(data, list) or not data:
        raise IndexGridError(f"{path}: expected a non-empty list of {{name, build, query}} entries (or "
                             f"{{indexes: [...]}}), got {type(data).__name__}")
    return from_entries(data, str(path))


def _load_yaml(text: str, path: Path):
    try:
        import yaml
    except ImportError:
        raise IndexGridError(f"{path}: reading YAML needs PyYAML (pip install pyyaml); or write the "
                             f"index config as JSON") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise IndexGridError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
