"""The gate's output: the printed table and the JUnit XML of a `harness.gate.GateResult` (its findings,
notes, verdict; in the significance mode each tested score's p-value, difference and interval too)."""
from __future__ import annotations

import re

from .text_table import aligned


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"


def format_table(result, verbose: bool = False) -> str:
    """The gate's printed table: everything not ok (every comparison with verbose), notes, the verdict."""
    order = {"REGRESSION": 0, "ERROR": 1, "CHANGED": 2, "MISSING": 3, "NOISE": 4, "IMPROVEMENT": 5, "FIXED": 6,
             "NEW": 7, "ok": 8}
    shown = [f for f in result.findings if verbose or f.status != "ok"]
    shown.sort(key=lambda f: (order.get(f.status, 9), f.task, f.index or "", f.model, f.metric))
    lines = []
    if shown:
        rows = [("status", "model", "task", "index", "metric", "baseline", "current", "delta", "tolerance", "note")]
        for f in shown:
            d = f.delta
            rows.append((f.status, f.model, f.task, f.index or "-", f.metric, _fmt(f.baseline), _fmt(f.current),
                         "" if d is None else f"{d:+.6g}", "" if f.tolerance is None else f"{f.tolerance:g}", f.note))
        lines += aligned(rows) + [""]
    for n in result.notes:
        lines.append(f"note: {n}")
    counts = ", ".join(f"{result.count(s)} {s.lower()}" for s in
                       ("REGRESSION", "ERROR", "CHANGED", "MISSING", "IMPROVEMENT", "FIXED", "NEW")
                       + (("NOISE",) if result.significance is not None else ()))
    verdict = "FAIL" if result.failed else "PASS"
    lines.append(f"gate: {verdict}: {result.compared_jobs} job(s) compared, {result.checked} score(s) checked; "
                 f"{counts}")
    return "\n".join(lines)


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _x(text) -> str:
    return _XML_BAD.sub("?", str(text))


def junit_xml(result) -> str:
    """One testcase per checked score and per missing/new/failed job; regressions are failures."""
    import xml.etree.ElementTree as ET
    suite = ET.Element("testsuite", name="embedding-gate")
    n_fail = n_skip = 0
    for f in result.findings:
        case = ET.SubElement(suite, "testcase", classname=_x(f"gate.{f.model}"),
                             name=_x(f"{f.task}" + (f" [{f.index}]" if f.index else "") + (f" {f.metric}" if f.metric else "")))
        detail = (f"{f.job} {f.metric}: baseline {_fmt(f.baseline)}, current {_fmt(f.current)}"
                  + (f", delta {f.delta:+.6g}" if f.delta is not None else "")
                  + (f", tolerance {f.tolerance:g}" if f.tolerance is not None else "") + (f"; {f.note}" if f.note else ""))
        if f.p_value is not None:   # significance mode: the paired test, machine-readable
            props = ET.SubElement(case, "properties")
            for k, v in (("p_value", f.p_value), ("difference", f.delta), ("low", f.interval[0]),
                         ("high", f.interval[1]), ("alpha", result.significance)):
                ET.SubElement(props, "property", name=k, value=_fmt(v))
        if result.fails(f):
            n_fail += 1
            el = ET.SubElement(case, "failure", message=_x(f"{f.status}: {detail}"), type=f.status)
            el.text = _x(detail)
        elif f.status == "MISSING":
            n_skip += 1
            ET.SubElement(case, "skipped", message=_x(f"MISSING: {detail}"))
        elif f.status != "ok":
            ET.SubElement(case, "system-out").text = _x(f"{f.status}: {detail}")
    suite.set("tests", str(len(result.findings)))
    suite.set("failures", str(n_fail))
    suite.set("errors", "0")
    suite.set("skipped", str(n_skip))
    if result.notes:
        ET.SubElement(suite, "system-out").text = _x("\n".join(result.notes))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
