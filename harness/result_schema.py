"""The schema of a result file (design.md), checked when the runner writes one and whenever it is read.

Strict on what readers rely on (task, model, status, main score, scores, job key, the `declared`
block the report and the gate read), open elsewhere: unknown fields are kept, and fields newer than
the published results are optional, so older files stay readable. Types are strict (a score of
"0.5" or true is not a number); NaN is stored as null, never as a bare NaN.

Written with pydantic's validation core (`pydantic_core` schemas) rather than `pydantic.BaseModel`
classes: the same validator and error locations at a third of the import time, which a fully
cached run (every job skipped, or every vector from the cache) would otherwise mostly spend here.

`problems(obj)` returns one message per field at fault, e.g. "field 'main_score': not a number
(got '0.5')"; callers prefix the file.
"""
from __future__ import annotations

from typing import Any

from pydantic_core import SchemaValidator, ValidationError
from pydantic_core import core_schema as cs


def _object(required: dict, optional: dict | None = None) -> cs.TypedDictSchema:
    """A JSON object with these fields; other fields are allowed and kept."""
    fields = {k: cs.typed_dict_field(v, required=True) for k, v in required.items()}
    fields.update({k: cs.typed_dict_field(v, required=False) for k, v in (optional or {}).items()})
    return cs.typed_dict_schema(fields, extra_behavior="allow")


def _null_or(schema):
    return cs.nullable_schema(schema)


# strict: "0.5" is not a number, true is not a number, 1 is not true (ints do count as numbers)
STR, INT, BOOL = cs.str_schema(strict=True), cs.int_schema(strict=True), cs.bool_schema(strict=True)
NUMBER = cs.float_schema(allow_inf_nan=False, strict=True)
ANY = cs.any_schema()
OBJECT = cs.dict_schema(STR, ANY)

# point / query_points (index grids, harness/index_grid.py): the job's point key and the query points it
# searched; optional so results written before grids stay valid
INDEX = _object({"name": STR}, {"exact": BOOL, "build": OBJECT, "query": OBJECT, "point": _null_or(STR),
                                "query_points": cs.list_schema(OBJECT)})
DATASET = _object({}, {"path": _null_or(STR), "sha256": cs.dict_schema(STR, STR), "source": _null_or(STR)})
TOLERANCE = cs.float_schema(ge=0, allow_inf_nan=False, strict=True)
# per-item results (harness/significance.py): the `items` sidecar's columns and, per score, the statistic that
# recomputes it from some of them
ITEMS = _object({"columns": cs.list_schema(STR, min_length=1),
                 "scores": cs.dict_schema(STR, _object({"statistic": STR, "columns": cs.list_schema(STR, min_length=1)}))})
DECLARED = _object(
    {"title": STR, "ranked": BOOL},
    {"plots": cs.list_schema(STR), "tables": cs.list_schema(STR),
     # higher_is_better null: descriptive; tolerance null: never gated
     "scores": cs.dict_schema(STR, _object({"higher_is_better": _null_or(BOOL), "tolerance": _null_or(TOLERANCE)})),
     "items": ITEMS})
# one bootstrap interval per declared item score; endpoints null where they cannot be computed (NaN)
ENDPOINTS = cs.list_schema(_null_or(NUMBER), min_length=2, max_length=2)
INTERVAL = _object({"low": _null_or(NUMBER), "high": _null_or(NUMBER), "level": NUMBER,
                    "method": cs.literal_schema(["BCa", "percentile"]), "B": cs.int_schema(ge=1, strict=True),
                    "seed": INT, "n_items": cs.int_schema(ge=1, strict=True)},
                   {"percentile": ENDPOINTS, "bca": ENDPOINTS, "estimate": _null_or(NUMBER), "recentred": BOOL,
                    "bias": NUMBER})
JOB_KEY = cs.str_schema(pattern=r"^[0-9a-f]{64}$", strict=True)
COUNT, SECONDS = cs.int_schema(ge=0, strict=True), cs.float_schema(ge=0, allow_inf_nan=False, strict=True)
# what a model that counts its own work reports (HTTP APIs, adapters/models/http_embeddings.py); tokens and
# latencies are null where the server reports none or no request was answered
USAGE_COUNTS = ("requests", "retries", "failed_requests", "failed_batches", "texts")
MODEL_USAGE = _object({}, {**dict.fromkeys(USAGE_COUNTS, COUNT),
                           "prompt_tokens": _null_or(COUNT), "total_tokens": _null_or(COUNT),
                           "latency_s": cs.dict_schema(STR, _null_or(SECONDS)), "wait_s": SECONDS})

RESULT = _object(
    required={"task": STR, "model": STR, "status": cs.literal_schema(["ok", "error"]),
              "main_score": _null_or(NUMBER), "scores": OBJECT},
    optional={"main_score_name": _null_or(STR), "job_key": _null_or(JOB_KEY),
              "task_version": _null_or(INT), "task_type": _null_or(STR), "split": _null_or(STR),
              "model_revision": _null_or(STR), "index": _null_or(INDEX), "seed": _null_or(INT), "params": OBJECT,
              "dataset": _null_or(DATASET), "declared": _null_or(DECLARED), "details": OBJECT,
              "embedding_cache": cs.dict_schema(STR, INT), "index_stats": OBJECT, "model_usage": MODEL_USAGE,
              "intervals": cs.dict_schema(STR, INTERVAL), "sharded_encoding": OBJECT,
              "versions": cs.dict_schema(STR, _null_or(STR)), "timings_s": cs.dict_schema(STR, _null_or(NUMBER)),
              "error": _null_or(STR), "traceback": _null_or(STR), "created_at": _null_or(STR)})

VALIDATOR = SchemaValidator(RESULT)

_WHAT = {"missing": "missing", "float_type": "not a number", "finite_number": "not a finite number (NaN is "
         "stored as null)", "int_type": "not an integer", "string_type": "not a string", "bool_type":
         "not true/false", "dict_type": "not an object", "list_type": "not a list",
         "string_pattern_mismatch": "not a 64-character hex sha256", "greater_than_equal": "negative",
         "too_short": "too short", "too_long": "too long"}


def problems(obj: Any) -> list[str]:
    """What is wrong with a parsed result file, one message per field; [] when it is valid."""
    if not isinstance(obj, dict):
        return [f"not a JSON object (a {type(obj).__name__})"]
    try:
        VALIDATOR.validate_python(obj)
    except ValidationError as e:
        return [_message(err) for err in e.errors(include_url=False)]
    if obj["status"] == "ok":   # a finished job is found again by its key and read by its main score's name
        missing = [f for f in ("job_key", "main_score_name") if obj.get(f) is None]
        if missing:
            return [f"status 'ok' needs {' and '.join(missing)}"]
    return []


def _message(err: dict) -> str:
    kind = err["type"]
    what = _WHAT.get(kind) or err["msg"].replace("Input should be", "must be")
    if kind != "missing":
        got = repr(err.get("input"))
        what += f" (got {got[:60] + '...' if len(got) > 60 else got})"
    loc = ".".join(str(p) for p in err["loc"])
    return f"field {loc!r}: {what}" if loc else what
